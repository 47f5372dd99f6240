"""The soak borrows the reliability suite's harness (``open_run``, its PostgreSQL) as fixtures.

Collected only under ``make soak`` (``HAVEN_SOAK=1``; ``tests/conftest.py`` ignores this directory otherwise).
"""

from tests.reliability.conftest import open_run, terminal  # noqa: F401 - fixtures, registered by import
