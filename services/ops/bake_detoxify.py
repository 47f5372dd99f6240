"""``python -m services.ops.bake_detoxify --model original --out DIR``: Detoxify weights that load offline.

The README's "Detoxify weights for an offline site" steps, as one command. It
runs where there is internet (``deploy/Dockerfile`` runs it at build time when
``--build-arg DETOXIFY_BAKE_MODEL=original`` is given) and writes:

* ``DIR/config/``: the Hugging Face config (``num_labels`` = the checkpoint's
  ``num_classes``) and tokenizer of the checkpoint's base model;
* ``DIR/detoxify.ckpt``: the release checkpoint rewritten by
  :func:`~services.moderation.detectors.toxicity.prepare_offline_checkpoint`
  so that its ``model_type`` is ``DIR/config`` (an absolute path: run this
  where the files will live, e.g. inside the image).

Then run moderation with ``DETOXIFY_CHECKPOINT=DIR/detoxify.ckpt``,
``DETOXIFY_HF_CONFIG_PATH=DIR/config`` and ``HF_HUB_OFFLINE=1``.
``--checkpoint FILE`` uses a checkpoint already on disk instead of downloading.
Checkpoints are pickles: only use files from Detoxify's release page or your own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from services.common.errors import ConfigError
from services.moderation.detectors.toxicity import DETOXIFY_MODELS, prepare_offline_checkpoint

CHECKPOINT_NAME = "detoxify.ckpt"
CONFIG_DIR_NAME = "config"


def release_url(model: str) -> str:
    """Where Detoxify publishes ``model``'s checkpoint (Detoxify's own table)."""
    from detoxify.detoxify import MODEL_URLS

    if model not in MODEL_URLS:
        raise ConfigError(f"unknown Detoxify model {model!r}; one of {', '.join(DETOXIFY_MODELS)}")
    return MODEL_URLS[model]


def checkpoint_base(checkpoint: Path) -> tuple[str, int]:
    """The checkpoint's base model (``model_type``, e.g. ``bert-base-uncased``) and its number of classes."""
    import pickle

    import torch

    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
        args = loaded["config"]["arch"]["args"]
        return str(args["model_type"]), int(args["num_classes"])
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ConfigError(f"{checkpoint} is not a Detoxify checkpoint: {e.__class__.__name__}") from e


def bake(checkpoint: Path, out: Path) -> tuple[Path, Path]:
    """Write ``out/config`` and ``out/detoxify.ckpt`` from a downloaded checkpoint; returns their paths."""
    from transformers import AutoConfig, AutoTokenizer

    out = out.resolve()
    config_dir, target = out / CONFIG_DIR_NAME, out / CHECKPOINT_NAME
    base, classes = checkpoint_base(checkpoint)
    config_dir.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(config_dir)
    AutoConfig.from_pretrained(base, num_labels=classes).save_pretrained(config_dir)
    prepare_offline_checkpoint(checkpoint, config_dir, target)
    return target, config_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.ops.bake_detoxify", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="original", choices=DETOXIFY_MODELS)
    parser.add_argument("--out", required=True, type=Path, help="directory for detoxify.ckpt and config/")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint already downloaded (skips the download)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            source = args.checkpoint
            if source is None:
                import torch

                url = release_url(args.model)
                source = Path(scratch) / url.rsplit("/", 1)[-1]
                print(f"bake_detoxify: downloading {url}", flush=True)
                torch.hub.download_url_to_file(url, str(source))
            target, config_dir = bake(source, args.out)
    except ConfigError as e:
        print(f"bake_detoxify: {e}", file=sys.stderr)
        return 2
    print(f"bake_detoxify: wrote {target} and {config_dir}")
    print(f"  DETOXIFY_CHECKPOINT={target} DETOXIFY_HF_CONFIG_PATH={config_dir} HF_HUB_OFFLINE=1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
