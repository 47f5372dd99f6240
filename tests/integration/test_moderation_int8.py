"""int8 dynamic quantization as a ToxicityConfig option: same labels and loading path, scores close to fp32."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from tests.support.synthetic_models import build_tiny_checkpoint
from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityModel

TEXTS = ["day 30 today", "you are an idiot", "the craving passed after a walk and a call to my sponsor " * 20]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("int8"), hidden_size=64, layers=2, heads=2, intermediate=128)


def _model(tiny, **options) -> ToxicityModel:
    checkpoint, config_dir = tiny
    model = ToxicityModel(ToxicityConfig(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), **options))
    model.load()
    return model


def test_int8_replaces_linear_layers_and_keeps_scores_close(tiny) -> None:
    import torch

    fp32, int8 = _model(tiny), _model(tiny, quantize=True)
    kinds = {type(m).__name__ for m in int8._detoxify.model.modules()}
    assert not any(isinstance(m, torch.nn.Linear) and type(m) is torch.nn.Linear
                   for m in int8._detoxify.model.modules()), kinds
    assert int8.labels == fp32.labels
    assert int8.model_name == fp32.model_name + "+int8", "decisions record that the scores came from int8"
    for a, b in zip(fp32.predict(TEXTS), int8.predict(TEXTS)):
        assert set(a) == set(b) and max(abs(a[k] - b[k]) for k in a) < 0.05


def test_int8_is_cpu_only() -> None:
    with pytest.raises(ConfigError, match="CPU only"):
        ToxicityConfig(quantize=True, device="cuda")
