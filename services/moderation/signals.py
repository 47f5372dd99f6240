"""What detectors say about a text, before policy decides anything."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Signal:
    """One finding: ``category`` (e.g. ``crisis``, ``toxicity``), a score in [0, 1],
    and ``evidence`` (the span or rule that fired) so a moderator sees *why*."""

    category: str
    score: float
    evidence: str
    detector: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
