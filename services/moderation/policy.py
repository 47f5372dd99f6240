"""Policy: turns signals into one decision. Thresholds are data, not branches.

Principles (DESIGN.md):
* a cry for help is never removed for being a cry for help: a crisis signal
  escalates, and the post is published or held on its other merits
  (present-tense method detail is held);
* swearing about one's own struggle is not abuse: Detoxify scores profanity
  as toxic whatever its target, so toxicity holds a post only when the text is
  aimed at someone (second person, a mention) or is a threat;
* borderline ML scores send a post to review (``held``); they never remove it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.moderation.signals import Signal

# Words that aim a text at a person: second person or an @mention ("thank you" and
# "U.S." are not targets). Spanish "tu" is often written without its accent.
_AIMED = re.compile(
    r"(?:(?<!thank )\byou\b|\byou'?re\b|\byour\b|\bu\b(?!\.)|\bur\b|@\w+|\bt[úu]\b|\bte\b|\beres\b)",
    re.IGNORECASE,
)
ABUSE_LABELS = ("toxicity", "severe_toxicity", "insult", "identity_attack", "identity_hate", "toxic", "severe_toxic",
                "insult", "obscene")
THREAT_LABELS = ("threat",)
PAGING_LEVELS = ("high", "imminent")

LEVEL_ORDER = {"watch": 0, "high": 1, "imminent": 2}
# Queue priority: crisis > threat > (highest score, a separate sort key) > reports (then weight, age).
PRIORITY = {"imminent": 100, "high": 90, "watch": 80, "threat": 70, "abuse": 60, "automated_review_unavailable": 55,
            "safety_review": 50, "appeal": 45, "report": 40}


@dataclass(frozen=True)
class Policy:
    version: str = "default-1"
    toxicity_hold: float = 0.8
    threat_hold: float = 0.7

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "toxicity_hold": self.toxicity_hold, "threat_hold": self.threat_hold}


@dataclass(frozen=True)
class Decision:
    outcome: str  # published | held | removed
    reasons: list[dict[str, Any]] = field(default_factory=list)
    escalation_level: str | None = None
    priority: int = 0

    @property
    def pages_crisis_staff(self) -> bool:
        return self.escalation_level in PAGING_LEVELS


def decide(policy: Policy, text: str, signals: list[Signal]) -> Decision:
    reasons: list[dict[str, Any]] = []
    hold = False
    level: str | None = None
    aimed = bool(_AIMED.search(text))
    crisis = [s for s in signals if s.category == "crisis"]
    for signal in crisis:
        this_level = signal.details.get("level")
        if LEVEL_ORDER.get(this_level, -1) > LEVEL_ORDER.get(level, -1):
            level = this_level
        # Private: the crisis assessment is for staff; members (the author included) never see it.
        reasons.append(_reason("crisis", signal, level=this_level, private=True))
        if signal.details.get("method_detail"):
            hold = True
            reasons.append(_reason("safety_review", signal))
    for signal in signals:
        if signal.category == "model_unavailable":
            hold = True  # fail closed: without the model, a human decides
            reasons.append(_reason("automated_review_unavailable", signal))
        if signal.category != "toxicity":
            continue
        label = signal.details.get("label", "")
        # "I'm going to kill myself" scores as a threat; a threat against oneself is a crisis, not abuse.
        if label in THREAT_LABELS and signal.score >= policy.threat_hold and (aimed or not crisis):
            hold = True
            reasons.append(_reason("threat", signal))
        elif label in ABUSE_LABELS and signal.score >= policy.toxicity_hold and aimed:
            hold = True
            reasons.append(_reason("abuse", signal))
    priority = max([PRIORITY.get(level or "", 0)] + [PRIORITY.get(r["code"], 0) for r in reasons])
    return Decision("held" if hold else "published", reasons, level, priority)


def _reason(code: str, signal: Signal, **extra: Any) -> dict[str, Any]:
    return {"code": code, "category": signal.category, "score": round(signal.score, 4),
            "evidence": signal.evidence, "detector": signal.detector, **extra}
