"""Crisis first: while the crisis screen's encoder batch runs, Detoxify's next batch waits its turn."""

from __future__ import annotations

import asyncio
import threading

from services.moderation.detectors.learned import LearnedConfig, LearnedScorer
from services.moderation.detectors.pipeline import Detectors


class SlowDetector:
    """The encoder, held inside its thread until the test releases it."""

    name = "slow-encoder"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def detect(self, texts):
        self.entered.set()
        self.release.wait(10)
        return [[] for _ in texts]


class RecordingScorer:
    model_name = "recording"

    def __init__(self) -> None:
        self.calls = 0

    async def score(self, texts):
        self.calls += 1
        return [{"toxicity": 0.0} for _ in texts]


async def _scorer_with(detector: SlowDetector) -> LearnedScorer:
    scorer = LearnedScorer(LearnedConfig(encoder=None))  # type: ignore[arg-type] - nothing is loaded
    await scorer._thread.start(lambda: None)
    scorer._detector = detector  # type: ignore[assignment]
    return scorer


async def test_detoxify_waits_for_the_screens_batch_then_runs() -> None:
    slow, toxicity = SlowDetector(), RecordingScorer()
    learned = await _scorer_with(slow)
    detectors = Detectors(toxicity, learned)  # type: ignore[arg-type]
    try:
        screening = asyncio.create_task(detectors.learned_signals(["a crisis post"], urgent=True))
        await asyncio.get_running_loop().run_in_executor(None, slow.entered.wait, 10)
        deciding = asyncio.create_task(detectors.model_signals(["an ordinary post"]))
        for _ in range(20):  # let it run up to the gate: it must not pass while the screen's batch runs
            await asyncio.sleep(0)
        assert toxicity.calls == 0 and not deciding.done(), "Detoxify ran beside the screen's batch"
        slow.release.set()
        assert await screening == [[]]
        assert await asyncio.wait_for(deciding, 10) and toxicity.calls == 1
    finally:
        slow.release.set()
        await learned.close()


async def test_an_ordinary_encoder_call_holds_nobody_back() -> None:
    slow, toxicity = SlowDetector(), RecordingScorer()
    learned = await _scorer_with(slow)
    detectors = Detectors(toxicity, learned)  # type: ignore[arg-type]
    try:
        backfill = asyncio.create_task(detectors.learned_signals(["a post the screen has not reached"]))
        await asyncio.get_running_loop().run_in_executor(None, slow.entered.wait, 10)
        assert await asyncio.wait_for(detectors.model_signals(["an ordinary post"]), 10)
        assert toxicity.calls == 1
        slow.release.set()
        await backfill
    finally:
        slow.release.set()
        await learned.close()
