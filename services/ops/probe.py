"""``python -m services.ops.probe [URL]``: exit 0 when URL answers 200, else 1 (container health checks).

The default URL is this container's own ``/readyz`` on ``HTTP_PORT``. The image
has no curl; this needs nothing but the standard library.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def probe(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own health endpoint
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[0] if args else f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8080')}/readyz"
    return 0 if probe(url) else 1


if __name__ == "__main__":
    raise SystemExit(main())
