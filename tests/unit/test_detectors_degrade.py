"""A failing toxicity model never blocks the crisis path, and fails closed for everything else."""

from __future__ import annotations

from services.moderation.policy import Policy, decide
from services.moderation.detectors.pipeline import Detectors


class BrokenScorer:
    model_name = "broken-model"

    async def score(self, texts):
        raise RuntimeError("CUDA out of memory")


class FixedScorer:
    model_name = "fixed-model"

    def __init__(self, scores):
        self._scores = scores

    async def score(self, texts):
        return [dict(self._scores) for _ in texts]


async def test_crisis_still_escalates_when_the_model_fails() -> None:
    texts = ["I have the pills ready and I'm taking all of them tonight", "good morning everyone"]
    crisis_signals, calm_signals = await Detectors(BrokenScorer()).run(texts)
    crisis = decide(Policy(), texts[0], crisis_signals)
    calm = decide(Policy(), texts[1], calm_signals)
    assert crisis.escalation_level == "imminent" and crisis.pages_crisis_staff
    assert crisis.outcome == "held" and calm.outcome == "held", "without the model a human decides"
    assert [r["code"] for r in calm.reasons] == ["automated_review_unavailable"]


async def test_scores_become_signals_with_their_label_and_threat_separately() -> None:
    (signals,) = await Detectors(FixedScorer({"toxicity": 0.9, "insult": 0.2, "threat": 0.1})).run(["x"])
    assert [(s.category, s.details["label"], s.score) for s in signals] == [
        ("toxicity", "toxicity", 0.9), ("toxicity", "threat", 0.1)]
    assert signals[0].detector == "fixed-model"
