"""moderation's command-line tools, one module per command: ``python -m services.moderation.cli.<command>``.

* ``classify``: moderate JSON Lines texts as the service would; ``--report`` compares with labels (``make eval``).
* ``replay``: run stored posts through a proposed policy or model and report what would change.
* ``policies``: validate, store and show per-community policy documents.
* ``train``: train the learned heads from the committed corpus (``make train``).
* ``prepare_offline``: rewrite a downloaded Detoxify checkpoint to load without internet.

What several commands share (the model flags, the service's setup, exit statuses) is in
:mod:`services.moderation.cli.common`, a library module, not a command.
"""
