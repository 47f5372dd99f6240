"""Every detector over one batch of post texts, in the order the crisis path needs: rules, learned heads, Detoxify.

The decision worker and the crisis screen (``services/moderation/handlers.py``) and the command-line
tools (``services/moderation/cli/``) all read posts through :class:`Detectors`, so what a tool reports
is what the service decides. A failing model never costs a crisis its escalation: the rules run first
and need no model, and a model's failure becomes a ``model_unavailable`` signal that the policy holds
for a human (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from services.moderation.detectors.abuse import AbuseDetector
from services.moderation.detectors.crisis import CrisisDetector
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.privacy import PrivacyDetector
from services.moderation.detectors.sourcing import SourcingDetector
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.detectors.watched import WatchList
from services.moderation.signals import Signal

log = logging.getLogger(__name__)


class RuleDetector(Protocol):
    name: str

    def detect(self, text: str) -> list[Signal]: ...


def post_text(data: dict[str, Any]) -> str:
    """What the detectors read of a post (event data or a stored version): the title, if any, then the body."""
    return f"{data['title']}\n{data['body']}" if data.get("title") else data["body"]


class Detectors:
    """All detectors over one batch of texts: the cheap rules, the learned heads, then Detoxify.

    ``toxicity`` may be None (the crisis screen, and the evaluation, which has no real Detoxify weights):
    then no toxicity signal is produced at all, which is not the same as a failing model.
    """

    def __init__(self, toxicity: ToxicityScorer | None, learned: LearnedScorer | None = None,
                 crisis: CrisisDetector | None = None, rules: Sequence[RuleDetector] | None = None) -> None:
        self.toxicity = toxicity
        self.learned = learned
        self.crisis = crisis or CrisisDetector()
        self.rules = tuple(rules) if rules is not None else (AbuseDetector(), SourcingDetector(), PrivacyDetector())

    @property
    def model_name(self) -> str:
        models = ([self.toxicity.model_name] if self.toxicity else []) + ([self.learned.name] if self.learned else [])
        return "+".join([*models, self.crisis.name, *(r.name for r in self.rules)])

    def rule_signals(self, text: str, watched: WatchList | None = None) -> list[Signal]:
        """Crisis, abuse, sourcing, privacy and the community's watched words: milliseconds, no model."""
        signals = self.crisis.detect(text)
        for detector in self.rules:
            signals += detector.detect(text)
        return signals + (watched.scan(text) if watched else [])

    async def learned_signals(self, texts: list[str], *, urgent: bool = False) -> list[list[Signal]]:
        """The learned heads on the whole batch, in the encoder's own thread (``urgent``: the crisis screen's).

        If the encoder fails, each post gets a ``model_unavailable`` signal: the policy holds
        it for a human (fail closed), and the rules still escalate what they recognise.
        """
        if self.learned is None:
            return [[] for _ in texts]
        return await _or_unavailable(self.learned.detect(texts, urgent=urgent), len(texts), self.learned.name,
                                     "encoder")

    async def model_signals(self, texts: list[str]) -> list[list[Signal]]:
        """Detoxify on the whole batch, off the event loop.

        If it fails, each post gets a ``model_unavailable`` signal instead of
        scores: the policy holds it for a human (fail closed).
        """
        if self.toxicity is None:
            return [[] for _ in texts]
        if self.learned is not None:
            await self.learned.wait_until_calm()  # crisis first: a screen batch in flight goes before this one
        model = self.toxicity.model_name
        scores = await _or_unavailable(self.toxicity.score(texts), len(texts), model, "toxicity model")
        return [s if isinstance(s, list) else _toxicity_signals(s, model) for s in scores]

    async def run(self, texts: list[str], watched: Sequence[WatchList | None] | None = None) -> list[list[Signal]]:
        """Rules, the learned heads, then Detoxify; a failing model never keeps a crisis from escalating."""
        rules = [self.rule_signals(text, w) for text, w in zip(texts, watched or [None] * len(texts))]
        learned = await self.learned_signals(texts)
        return [combine(r, l, m) for r, l, m in zip(rules, learned, await self.model_signals(texts))]


async def _or_unavailable(work: Awaitable[list[Any]], count: int, model: str, what: str) -> list[Any]:
    """``work``'s results, or one ``model_unavailable`` signal list per text if the model failed."""
    try:
        return await work
    except Exception as e:  # noqa: BLE001 - any model failure: degrade, never drop the crisis path
        log.error("%s failed on a batch of %d: %s; holding them for review", what, count, e.__class__.__name__)
        unavailable = Signal("model_unavailable", 1.0, f"{what} error: {e.__class__.__name__}", model)
        return [[unavailable] for _ in range(count)]


def combine(*groups: list[Signal]) -> list[Signal]:
    """One post's signals in a stable order: crisis first, then the rest in the groups' order."""
    found = [s for group in groups for s in group]
    return [s for s in found if s.category == "crisis"] + [s for s in found if s.category != "crisis"]


def _toxicity_signals(scores: dict[str, float], model: str) -> list[Signal]:
    """The highest-scoring label, plus ``threat`` on its own, as signals."""
    if not scores:
        return []
    label, top = max(scores.items(), key=lambda item: item[1])
    signals = [Signal("toxicity", float(top), f"{label}={top:.3f}", model, {"label": label, "scores": scores})]
    if label != "threat" and "threat" in scores:
        signals.append(Signal("toxicity", float(scores["threat"]), f"threat={scores['threat']:.3f}", model,
                              {"label": "threat"}))
    return signals
