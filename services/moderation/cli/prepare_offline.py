"""Rewrite a downloaded Detoxify checkpoint so it loads on a host without internet.

    python -m services.moderation.cli.prepare_offline \\
        --checkpoint toxic_original-c1212f89.ckpt --config-dir /srv/models/bert-config \\
        --out /srv/models/toxic_original-offline.ckpt

Needs no network; why and the steps before it are in
:mod:`services.moderation.detectors.toxicity`. Exit status 2 on a bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from services.common.errors import ConfigError
from services.moderation.detectors.toxicity import prepare_offline_checkpoint


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.moderation.cli.prepare_offline",
        description="Point a Detoxify checkpoint's model_type at a local config/tokenizer directory.",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="the downloaded Detoxify .ckpt")
    parser.add_argument(
        "--config-dir",
        required=True,
        type=Path,
        help="directory with save_pretrained config and tokenizer, at the path it will have in production",
    )
    parser.add_argument("--out", required=True, type=Path, help="where to write the offline checkpoint")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        prepare_offline_checkpoint(args.checkpoint, args.config_dir, args.out)
    except ConfigError as e:
        print(f"prepare_offline: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (model_type = {args.config_dir.resolve()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
