"""How every Haven command-line tool ends: a one-line reason on stderr and an exit status.

A tool is a module run as ``python -m services.<service>.cli.<command>`` whose ``main(argv) -> int``
returns what these return, so its tests can call it and read the status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

import asyncpg

from services.common.errors import HavenError


def fail(label: str, reason: object, status: int = 2) -> int:
    """Print ``label: reason`` on stderr and return ``status`` (2 by default: bad input or configuration)."""
    print(f"{label}: {reason}", file=sys.stderr)
    return status


def exit_status(label: str, work: Callable[[], int | None],
                statuses: Mapping[type[HavenError], int] | None = None) -> int:
    """``work()``'s status (``None`` is 0). A Haven error is one line on stderr and the status of the first
    kind in ``statuses`` it is, else 2; so is a database error, named by its class only (its message could
    quote stored data), and an ``OSError`` (a file, a refused connection). Anything else is a bug and
    propagates with its traceback."""
    try:
        return work() or 0
    except HavenError as e:
        status = next((s for kind, s in (statuses or {}).items() if isinstance(e, kind)), 2)
        return fail(label, e, status)
    except asyncpg.PostgresError as e:
        return fail(label, f"database: {e.__class__.__name__}")
    except OSError as e:
        return fail(label, f"{e.__class__.__name__}: {e}")
