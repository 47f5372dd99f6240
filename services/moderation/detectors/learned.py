"""The learned detector: the sentence encoder plus its heads, as signals the policy reads.

It never decides anything itself. Each head's probability travels in its
signal together with the threshold training chose for it; the policy applies
the community's own threshold where the community set one
(:func:`services.moderation.policy.learned_threshold`). A crisis signal carries,
as evidence for staff, the nearest labelled examples to the post.

:class:`LearnedScorer` is the async façade: the encoder is loaded and warmed once
in its own :class:`ModelThread`, apart from Detoxify's, so a crisis screen never
waits behind a toxicity batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.domain import CRISIS_LEVELS
from services.moderation.detectors.encoder import EncoderConfig, SentenceEncoder
from services.moderation.detectors.heads import MODELS_DIR, Heads, HeadScores
from services.moderation.detectors.model_thread import ModelThread
from services.moderation.signals import Signal

# Below this a head says nothing: far under any threshold a community would choose, and it keeps
# every ordinary post's stored signals short.
SIGNAL_FLOOR = 0.05
NEAREST = 3
_WARM_UP_TEXT = "warm up"


@dataclass(frozen=True)
class LearnedConfig:
    encoder: EncoderConfig
    models_dir: Path = MODELS_DIR


class LearnedDetector:
    """Blocking: texts to signals. Build it with :meth:`load` (reads weights, seconds)."""

    def __init__(self, encoder: SentenceEncoder, heads: Heads) -> None:
        self.encoder = encoder
        self.heads = heads

    @classmethod
    def load(cls, config: LearnedConfig) -> LearnedDetector:
        heads = Heads.load(config.models_dir)
        encoder = SentenceEncoder(config.encoder, heads.top_layers)
        encoder.load()
        return cls(encoder, heads)

    @property
    def name(self) -> str:
        return f"{self.encoder.name}+heads-{self.heads.version}"

    def scores(self, texts: Sequence[str]) -> list[HeadScores]:
        windows = self.encoder.encode(texts)
        return self.heads.score(windows.per_text(len(texts)))

    def detect(self, texts: Sequence[str]) -> list[list[Signal]]:
        return [self.signals(s) for s in self.scores(texts)]

    def signals(self, scores: HeadScores) -> list[Signal]:
        found: list[Signal] = []
        crisis = {level: round(scores.crisis[level], 4) for level in CRISIS_LEVELS}
        if crisis["watch"] >= SIGNAL_FLOOR:
            nearest = self.heads.examples.nearest(scores.strongest, "crisis", NEAREST)
            found.append(Signal(
                "crisis", crisis["watch"],
                "encoder: " + ", ".join(f"P(>={level}) {p:.2f}" for level, p in crisis.items()), self.name,
                {"learned": True, "label": "crisis_model", "probabilities": crisis,
                 "thresholds": self.heads.thresholds["crisis"], "nearest": nearest, "method_detail": False}))
        for head, score in (("sourcing", scores.sourcing), ("abuse", scores.abuse)):
            if score >= SIGNAL_FLOOR:
                found.append(Signal(
                    head, round(score, 4), f"encoder: P({head}) {score:.2f}", self.name,
                    {"learned": True, "label": f"{head}_model", "threshold": self.heads.thresholds[head],
                     "nearest": self.heads.examples.nearest(scores.strongest, head, NEAREST)}))
        return found


class LearnedScorer:
    """Async façade over :class:`LearnedDetector`, in its own model thread.

    Crisis first: while an urgent call (the crisis screen's) runs or waits, :meth:`wait_until_calm`
    holds back the callers that can wait (Detoxify's next batch). Both models share the process's
    cores; without this, a saturated Detoxify left the screen 30 s behind at 40 posts/s (bench 3b).
    """

    def __init__(self, config: LearnedConfig) -> None:
        self._config = config
        self._thread = ModelThread("encoder")
        self._detector: LearnedDetector | None = None
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @property
    def name(self) -> str:
        return self._detector.name if self._detector else "encoder-not-loaded"

    async def start(self) -> None:
        await self._thread.start(self._load_and_warm_up)

    async def detect(self, texts: Sequence[str], *, urgent: bool = False) -> list[list[Signal]]:
        if self._detector is None:
            raise RuntimeError("LearnedScorer.start() has not been called")
        if not texts:
            return []
        if not urgent:
            return await self._thread.run(self._detector.detect, list(texts))
        self._urgent += 1
        self._calm.clear()
        try:
            return await self._thread.run(self._detector.detect, list(texts))
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._calm.set()

    async def wait_until_calm(self) -> None:
        """Return once no urgent call is running or waiting (at once if none is)."""
        await self._calm.wait()

    async def close(self) -> None:
        await self._thread.close()

    def _load_and_warm_up(self) -> None:
        detector = LearnedDetector.load(self._config)
        detector.detect([_WARM_UP_TEXT])
        self._detector = detector
