"""The Dockerfile's bake step, minus the download: a Detoxify checkpoint in, files that load offline out.

The real release checkpoints cannot be downloaded here, so the test bakes the
suite's locally built Detoxify-format checkpoint (its ``model_type`` is a local
directory, where a release names ``bert-base-uncased``) and loads the result
with Detoxify's own loading code, as moderation does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.moderation.detectors.toxicity import DETOXIFY_MODELS, ToxicityConfig, ToxicityModel
from services.ops import bake_detoxify


def test_baked_weights_load_offline_from_where_they_were_written(marker_model, tmp_path: Path) -> None:
    checkpoint, _ = marker_model
    target, config_dir = bake_detoxify.bake(checkpoint, tmp_path / "models" / "detoxify")
    assert target == (tmp_path / "models" / "detoxify" / bake_detoxify.CHECKPOINT_NAME).resolve()
    assert (config_dir / "config.json").is_file()
    model = ToxicityModel(ToxicityConfig(checkpoint=str(target), huggingface_config_path=str(config_dir)))
    model.load()
    (scores,) = model.predict(["a perfectly ordinary sentence"])
    assert set(scores) == set(model.labels)


def test_every_model_has_a_release_url_and_a_bad_checkpoint_is_refused(tmp_path: Path) -> None:
    for model in DETOXIFY_MODELS:
        assert bake_detoxify.release_url(model).startswith("https://github.com/unitaryai/detoxify/releases/")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a Detoxify checkpoint"):
        bake_detoxify.checkpoint_base(junk)
