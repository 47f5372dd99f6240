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

# Words that aim a text at a person: second person or an @mention.
_AIMED = re.compile(r"(?:\byou\b|\byou'?re\b|\byour\b|\bu\b|\bur\b|\by'?all\b|@\w+|\btú\b|\bte\b|\beres\b)", re.IGNORECASE)
ABUSE_LABELS = ("toxicity", "severe_toxicity", "insult", "identity_attack", "identity_hate", "toxic", "severe_toxic",
                "insult", "obscene")
THREAT_LABELS = ("threat",)
PAGING_LEVELS = ("high", "imminent")

PRIORITY = {"imminent": 100, "high": 90, "watch": 80, "threat": 70, "abuse": 60, "report": 40}


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
    for signal in signals:
        if signal.category == "crisis":
            level = signal.details.get("level")
            reasons.append(_reason("crisis", signal, level=level))
            if signal.details.get("method_detail"):
                hold = True
                reasons.append(_reason("crisis_method_detail", signal))
        elif signal.category == "toxicity":
            label = signal.details.get("label", "")
            if label in THREAT_LABELS and signal.score >= policy.threat_hold:
                hold = True
                reasons.append(_reason("threat", signal))
            elif label in ABUSE_LABELS and signal.score >= policy.toxicity_hold and _AIMED.search(text):
                hold = True
                reasons.append(_reason("abuse", signal))
    priority = max([PRIORITY.get(level or "", 0)] + [PRIORITY.get(r["code"], 0) for r in reasons])
    return Decision("held" if hold else "published", reasons, level, priority)


def _reason(code: str, signal: Signal, **extra: Any) -> dict[str, Any]:
    return {"code": code, "category": signal.category, "score": round(signal.score, 4),
            "evidence": signal.evidence, "detector": signal.detector, **extra}
