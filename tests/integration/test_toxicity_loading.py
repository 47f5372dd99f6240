"""Detoxify really loads offline, through the code path production uses.

A tiny random-weight checkpoint in Detoxify's exact format is built in a temp
dir and loaded with ``checkpoint=`` + ``huggingface_config_path=``, with the
Hugging Face offline switches set and every socket connect refused, so any
attempt to reach the network fails the test instead of passing by luck.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

from services.common.errors import ConfigError
from services.moderation.cli import prepare_offline
from services.moderation.detectors.toxicity import (
    ToxicityConfig,
    ToxicityModel,
    ToxicityScorer,
    prepare_offline_checkpoint,
)
from tests.support.synthetic_models import (
    DETOXIFY_ORIGINAL_LABELS,
    JIGSAW_ORIGINAL_CLASSES,
    build_tiny_checkpoint,
)

TEXTS = ["I have the pills ready", "you idiot", ""]


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Offline switches on, and every DNS lookup or connect recorded and refused."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # huggingface_hub reads the variable once, at import (already done by now);
    # set its flag too, as a process started with the variable would have it.
    # Without it a hub name is retried for ~25 s before failing.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    attempts: list[str] = []

    def refuse(what: str):
        def blocked(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what == 'connect' else args[:1]}")
            raise OSError(f"network is disabled in this test ({what})")

        return blocked

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    return attempts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("detoxify"))


def _config(checkpoint: Path, config_dir: Path, **overrides) -> ToxicityConfig:
    return ToxicityConfig(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), **overrides)


def _assert_scores(scores: list[dict[str, float]], count: int) -> None:
    assert len(scores) == count
    for row in scores:
        assert set(row) == set(DETOXIFY_ORIGINAL_LABELS)
        for value in row.values():
            assert type(value) is float
            assert 0.0 <= value <= 1.0


async def test_scorer_loads_tiny_checkpoint_offline(tiny, network_attempts):
    checkpoint, config_dir = tiny
    scorer = ToxicityScorer.from_config(_config(checkpoint, config_dir))
    await scorer.start()
    try:
        first = await scorer.score(TEXTS)
        second = await scorer.score(TEXTS)
    finally:
        await scorer.close()
    _assert_scores(first, len(TEXTS))
    assert first == second
    assert scorer.labels == DETOXIFY_ORIGINAL_LABELS
    assert scorer.model_name.startswith("detoxify-checkpoint:detoxify-tiny.ckpt@sha256:")
    assert network_attempts == []


def test_batches_by_length_and_restores_order(tiny, network_attempts):
    checkpoint, config_dir = tiny
    model = ToxicityModel(_config(checkpoint, config_dir, batch_size=2))
    model.load()
    texts = ["you idiot", "I have the pills ready tonight and nobody will help", "", "hate", "ready for the forum post"]
    together = model.predict(texts)
    alone = [model.predict([text])[0] for text in texts]
    _assert_scores(together, len(texts))
    for got, expected in zip(together, alone, strict=True):
        assert got == pytest.approx(expected, abs=1e-5)
    toxicity = sorted(row["toxicity"] for row in alone)
    assert min(b - a for a, b in itertools.pairwise(toxicity)) > 1e-4, "texts must score apart to detect a mix-up"
    assert network_attempts == []


def test_empty_list_and_long_text(tiny):
    checkpoint, config_dir = tiny
    model = ToxicityModel(_config(checkpoint, config_dir))
    model.load()
    assert model.predict([]) == []
    # Far beyond the model's 512 positions; the tiny tokenizer sets no
    # model_max_length, so only predict's own max_length keeps this from failing.
    _assert_scores(model.predict(["you idiot " * 3000]), 1)


async def test_score_runs_off_the_event_loop_thread(tiny):
    checkpoint, config_dir = tiny
    calls: list[tuple[str, int]] = []

    class RecordingModel(ToxicityModel):
        def load(self) -> None:
            calls.append(("load", threading.get_ident()))
            super().load()

        def predict(self, texts):
            calls.append(("predict", threading.get_ident()))
            return super().predict(texts)

    scorer = ToxicityScorer(RecordingModel(_config(checkpoint, config_dir)))
    await scorer.start()
    await scorer.start()  # idempotent: loads once
    try:
        assert await scorer.score([]) == []
        _assert_scores(await scorer.score(["you idiot"]), 1)
    finally:
        await scorer.close()
    loop_thread = threading.get_ident()
    assert [name for name, _ in calls] == ["load", "predict", "predict"]  # load, warm-up, score
    assert all(ident != loop_thread for _, ident in calls)
    assert len({ident for _, ident in calls}) == 1


async def test_close_survives_cancellation(tiny):
    checkpoint, config_dir = tiny
    scorer = ToxicityScorer.from_config(_config(checkpoint, config_dir))
    await scorer.start()
    closing = asyncio.create_task(scorer.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    with pytest.raises(RuntimeError, match="start"):
        await scorer.score(["you idiot"])
    await scorer.close()  # a second close is a no-op


def _as_published(checkpoint: Path, config_dir: Path, destination: Path) -> Path:
    """The tiny checkpoint made to look like the release file: hub model_type, Jigsaw class names, 2-label config."""
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = "bert-base-uncased"
    loaded["config"]["dataset"]["args"]["classes"] = list(JIGSAW_ORIGINAL_CLASSES)
    torch.save(loaded, destination)
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    hf_config.num_labels = 2
    hf_config.save_pretrained(str(config_dir))
    return destination


def test_prepare_offline_checkpoint_makes_a_published_checkpoint_load(tmp_path, network_attempts):
    checkpoint, config_dir = build_tiny_checkpoint(tmp_path / "build")
    published = _as_published(checkpoint, config_dir, tmp_path / "published.ckpt")

    with pytest.raises(ConfigError, match=r"published\.ckpt"):  # the premise: Detoxify goes to the hub first
        ToxicityModel(_config(published, config_dir)).load()
    assert network_attempts == []

    offline = tmp_path / "out" / "offline.ckpt"
    prepare_offline_checkpoint(published, config_dir, offline)
    rewritten = torch.load(offline, map_location="cpu", weights_only=False)
    assert rewritten["config"]["arch"]["args"]["model_type"] == str(config_dir.resolve())

    model = ToxicityModel(_config(offline, config_dir))
    model.load()
    assert model.labels == DETOXIFY_ORIGINAL_LABELS  # Detoxify's renaming of the Jigsaw names
    _assert_scores(model.predict(TEXTS), len(TEXTS))
    original = ToxicityModel(_config(checkpoint, config_dir))
    original.load()
    assert model.predict(TEXTS) == original.predict(TEXTS)  # same weights, only the pointer changed
    assert not list(offline.parent.glob("*.partial"))
    assert network_attempts == []


def test_prepare_offline_cli(tmp_path, capsys):
    checkpoint, config_dir = build_tiny_checkpoint(tmp_path / "build")
    published = _as_published(checkpoint, config_dir, tmp_path / "published.ckpt")
    out = tmp_path / "offline.ckpt"
    argv = ["--checkpoint", str(published), "--config-dir", str(config_dir), "--out", str(out)]
    assert prepare_offline.main(argv) == 0
    assert out.is_file()
    missing = ["--checkpoint", str(tmp_path / "nope.ckpt"), "--config-dir", str(config_dir), "--out", str(out)]
    assert prepare_offline.main(missing) == 2
    assert "nope.ckpt" in capsys.readouterr().err


def test_bad_checkpoint_path_is_a_config_error(tmp_path, tiny):
    _, config_dir = tiny
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(ConfigError, match=r"missing\.ckpt") as caught:
        ToxicityModel(_config(missing, config_dir)).load()
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert "\n" not in str(caught.value)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ConfigError, match=r"garbage\.ckpt"):
        ToxicityModel(_config(garbage, config_dir)).load()


async def test_scorer_start_reports_a_bad_checkpoint(tmp_path):
    scorer = ToxicityScorer.from_config(ToxicityConfig(checkpoint=str(tmp_path / "missing.ckpt")))
    with pytest.raises(ConfigError, match=r"missing\.ckpt"):
        await scorer.start()
    with pytest.raises(RuntimeError):
        await scorer.score(["you idiot"])


def test_config_rejects_unknown_model_and_bad_sizes():
    with pytest.raises(ConfigError, match="toxicity model must be one of"):
        ToxicityConfig(model="toxic-bert")
    with pytest.raises(ConfigError, match="batch_size"):
        ToxicityConfig(batch_size=0)
