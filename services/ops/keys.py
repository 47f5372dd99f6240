"""``python -m services.ops.keys DIR``: a new Ed25519 token key pair for a deployment.

Writes ``DIR/token-ed25519.pem`` (private, mode 0600: give it to forum only)
and ``DIR/token-ed25519.pub.pem`` (public: all three services). Refuses to
overwrite an existing key (that would log every member out); ``--force`` does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.tokens import generate_keypair

PRIVATE_NAME = "token-ed25519.pem"
PUBLIC_NAME = "token-ed25519.pub.pem"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.keys", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")
    args = parser.parse_args(argv)
    private, public = args.directory / PRIVATE_NAME, args.directory / PUBLIC_NAME
    if private.exists() and not args.force:
        print(f"keys: {private} exists; not replacing it (--force would, and log everyone out)", file=sys.stderr)
        return 2
    generate_keypair(private, public)
    public.chmod(0o644)
    print(f"keys: wrote {private} (private, forum only) and {public} (public, all services)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
