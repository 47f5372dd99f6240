"""forum's command-line tools, one module per command: ``python -m services.forum.cli.<command>``.

* ``create_user``: create an account with a role (the first admin, staff) and print it as JSON.

Every command connects to ``DATABASE_URL``; bad input or an unreachable database is one line on
stderr and exit status 2 (:mod:`services.common.cli`).
"""
