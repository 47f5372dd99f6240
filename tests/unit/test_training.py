"""Training is deterministic, and what it ships is what the service loads (fine-tuned layers checked by sha256)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.moderation.cli import train
from services.moderation.detectors.encoder import EncoderConfig, ModelIntegrityError
from services.moderation.detectors.heads import HEADS_FILE, MODELS_DIR, TOP_LAYERS_FILE, Heads
from services.moderation.detectors.learned import LearnedConfig, LearnedDetector

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


def _train(out: Path, cache: Path) -> None:
    # A slice of the real corpus, one epoch, one layer: seconds, and every step of the real run.
    assert train.main(["--corpus", str(CORPUS), "--out", str(out), "--limit", "120", "--epochs", "1",
                       "--top-layers", "1"], environ={"HAVEN_CACHE_DIR": str(cache)}) == 0


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder-cache")


def test_same_data_same_heads(tmp_path: Path, cache: Path) -> None:
    _train(tmp_path / "a", cache)
    _train(tmp_path / "b", cache)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {HEADS_FILE, TOP_LAYERS_FILE, "examples.npy", "examples.json", "training_report.md"} <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), f"{name} differs"
    report = json.loads((tmp_path / "a" / HEADS_FILE).read_text())["report"]
    assert report["training_posts"] + report["validation_posts"] == 120
    assert len(report["data_sha256"]) == 64


def test_a_tampered_fine_tuned_layer_file_is_refused(tmp_path: Path, cache: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    layers = models / TOP_LAYERS_FILE
    data = bytearray(layers.read_bytes())
    data[-10] ^= 0x01
    layers.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="refusing it"):
        LearnedDetector.load(LearnedConfig(EncoderConfig(cache_dir=str(cache)), models))


def test_the_committed_heads_were_trained_on_the_committed_corpus() -> None:
    """A corpus change without `make train` would ship heads that do not match their own report."""
    heads = Heads.load()
    _, data_hash = train.read_corpus(list(train.DEFAULT_CORPUS))
    report = json.loads((MODELS_DIR / HEADS_FILE).read_text())["report"]
    assert report["data_sha256"] == data_hash, "retrain: python -m services.moderation.cli.train"
    assert heads.top_layers is not None and set(heads.thresholds) == {"crisis", "sourcing", "abuse"}
