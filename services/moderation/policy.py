"""Policy: turns signals into one decision. The policy is data, not branches.

A policy is a versioned document (``policy_default.yaml`` is the default,
shipped in the repository; communities override parts of it in the
``policies`` table, see :mod:`services.moderation.policy_book`). This module
validates a document into a :class:`Policy` and applies it with :func:`decide`.

Principles (docs/architecture.md, "The post lifecycle"):

* a cry for help is never removed for being a cry for help: a crisis signal
  escalates, and the post is published or held on its other merits
  (present-tense method detail is held). Even where another rule says
  remove, an escalated post is held instead: a person is already reading it;
* swearing about one's own struggle is not abuse: Detoxify scores profanity as
  toxic whatever its target, so toxicity holds a post only when the text is
  aimed at someone (second person, a mention) or is a threat;
* ML scores send a post to review (``held``); they never remove it. Only rule
  categories whose document sets an explicit ``remove`` threshold, and watched
  words set to ``block``, remove;
* personal data found is redacted in the decision's ``privacy`` reason and the
  post is held (forum cannot publish a redacted body yet);
* a ``flag`` publishes the post and puts it in the review queue;
* a signal from the rules or from a learned head counts, whichever fires: the
  crisis level is the higher of the two. A learned head's signal carries its
  probability and the threshold training chose; a community's ``classifier``
  section replaces that threshold (:func:`learned_threshold`). Learned heads
  hold or escalate; they never remove.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from services.common.domain import CRISIS_LEVELS, LEVEL_RANK, PAGING_LEVELS
from services.common.errors import ConfigError
from services.moderation.detectors.heads import learned_level
from services.moderation.detectors.text import redact
from services.moderation.detectors.watched import WatchList
from services.moderation.signals import Signal

DEFAULT_DOCUMENT = Path(__file__).with_name("policy_default.yaml")

# Words that aim a text at a person: second person or an @mention ("thank you" and
# "U.S." are not targets). Spanish "tu" is often written without its accent.
_AIMED = re.compile(
    r"(?:(?<!thank )\byou\b|\byou'?re\b|\byour\b|\bu\b(?!\.)|\bur\b|@\w+|\bt[úu]\b|\bte\b|\beres\b)",
    re.IGNORECASE,
)
# Detoxify's labels (and the Jigsaw names its checkpoints store) that count as abuse when aimed at someone.
ABUSE_LABELS = ("toxicity", "severe_toxicity", "insult", "identity_attack", "identity_hate", "toxic", "severe_toxic",
                "obscene")
THREAT_LABELS = ("threat",)
# The heads a policy's ``classifier`` section may set thresholds for (services/moderation/detectors/heads.py).
LEARNED_HEADS = ("crisis", "sourcing", "abuse")
# Queue priority: crisis > threat > (highest score, a separate sort key) > reports (then weight, age).
PRIORITY = {"imminent": 100, "high": 90, "watch": 80, "threat": 70, "abuse": 60, "sourcing": 58, "privacy": 57,
            "watched": 56, "automated_review_unavailable": 55, "safety_review": 50, "appeal": 45, "report": 40}

# Rule categories a document may map to actions, and the reason code each gives.
RULE_CATEGORIES = {"abuse": "abuse", "threat": "threat", "sourcing": "sourcing", "privacy": "privacy"}
CATEGORY_ACTIONS = ("flag", "hold", "remove")
OUTCOME_RANK = {"published": 0, "held": 1, "removed": 2}
WATCHED_OUTCOME = {"block": "removed", "hold": "held", "flag": "published", "censor": "published"}
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+@-]{0,63}$")


@dataclass(frozen=True)
class Thresholds:
    """The score at or above which each action applies (None: never). The strongest action reached wins."""

    flag: float | None = None
    hold: float | None = None
    remove: float | None = None

    def action(self, score: float) -> str | None:
        for name in reversed(CATEGORY_ACTIONS):
            limit = getattr(self, name)
            if limit is not None and score >= limit:
                return name
        return None

    def as_json(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in CATEGORY_ACTIONS if getattr(self, name) is not None}


def _default_categories() -> dict[str, Thresholds]:
    return {"abuse": Thresholds(hold=0.5), "threat": Thresholds(hold=0.5), "sourcing": Thresholds(hold=0.5),
            "privacy": Thresholds(hold=0.5)}


@dataclass(frozen=True)
class Policy:
    """One community's effective policy. ``Policy()`` equals the shipped default document (a test checks it)."""

    version: str = "default-1"
    toxicity_hold: float = 0.8
    threat_hold: float = 0.7
    hold_method_detail: bool = True
    categories: dict[str, Thresholds] = field(default_factory=_default_categories)
    watched: WatchList = field(default_factory=WatchList)
    # Thresholds for the learned heads that replace the trained ones: {"crisis": {level: p}, "sourcing": p, ...}.
    classifier: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Policy:
        """Validate a whole document; :class:`ConfigError` lists every problem."""
        return _parse(document)

    def as_json(self) -> dict[str, Any]:
        """The document this policy is (what ``policies show`` prints and what overlays merge onto)."""
        return {"version": self.version,
                "toxicity": {"abuse_hold": self.toxicity_hold, "threat_hold": self.threat_hold},
                "crisis": {"hold_method_detail": self.hold_method_detail},
                "categories": {name: t.as_json() for name, t in self.categories.items()},
                "watched": self.watched.as_json(), "classifier": copy.deepcopy(self.classifier)}


@dataclass(frozen=True)
class Decision:
    outcome: str  # published | held | removed
    reasons: list[dict[str, Any]] = field(default_factory=list)
    escalation_level: str | None = None
    priority: int = 0
    flagged: bool = False  # published, and queued for a moderator to look at
    redacted_text: str | None = None  # the text with personal data and censored words masked

    @property
    def pages_crisis_staff(self) -> bool:
        return self.escalation_level in PAGING_LEVELS

    @property
    def needs_review(self) -> bool:
        return self.outcome == "held" or self.flagged


def crisis_assessment(policy: Policy, signals: list[Signal]) -> tuple[str | None, list[dict[str, Any]], bool]:
    """(escalation level, crisis reasons, hold for safety review) from the crisis signals alone.

    The worker opens an escalation with this before the ML batch finishes; :func:`decide`
    uses the same function, so the early escalation and the decision agree.
    """
    level: str | None = None
    reasons: list[dict[str, Any]] = []
    hold = False
    for signal in (s for s in signals if s.category == "crisis"):
        extra: dict[str, Any] = {}
        if signal.details.get("learned"):
            this_level = learned_level(signal.details["probabilities"], learned_threshold(policy, signal))
            if this_level is None:
                continue
            extra["nearest"] = signal.details.get("nearest", [])
        else:
            this_level = signal.details.get("level")
        if LEVEL_RANK.get(this_level, -1) > LEVEL_RANK.get(level, -1):
            level = this_level
        # Private: the crisis assessment is for staff; members (the author included) never see it.
        reasons.append(_reason("crisis", signal, level=this_level, private=True, **extra))
        if signal.details.get("method_detail") and policy.hold_method_detail:
            hold = True
            reasons.append(_reason("safety_review", signal))
    return level, reasons, hold


def learned_threshold(policy: Policy, signal: Signal) -> Any:
    """The threshold a learned signal is held to: the community's where set, else the trained one.

    Crisis: ``{level: p}`` (the community may set some levels only); sourcing, abuse: one ``p``.
    """
    own = policy.classifier.get(signal.category)
    if signal.category == "crisis":
        return {**signal.details["thresholds"], **(own or {})}
    return signal.details["threshold"] if own is None else own


def decide(policy: Policy, text: str, signals: list[Signal]) -> Decision:
    level, reasons, crisis_hold = crisis_assessment(policy, signals)
    outcome = "held" if crisis_hold else "published"
    flagged = False
    redactions: list[tuple[int, int, str]] = []

    def at_least(wanted: str) -> None:
        nonlocal outcome
        if OUTCOME_RANK[wanted] > OUTCOME_RANK[outcome]:
            outcome = wanted

    aimed = bool(_AIMED.search(text))
    crisis = level is not None
    for signal in signals:
        if signal.category == "model_unavailable":
            at_least("held")  # fail closed: without the model, a human decides
            reasons.append(_reason("automated_review_unavailable", signal))
        if signal.category != "toxicity":
            continue
        label = signal.details.get("label", "")
        # "I'm going to kill myself" scores as a threat; a threat against oneself is a crisis, not abuse.
        if label in THREAT_LABELS and signal.score >= policy.threat_hold and (aimed or not crisis):
            at_least("held")
            reasons.append(_reason("threat", signal))
        elif label in ABUSE_LABELS and signal.score >= policy.toxicity_hold and aimed:
            at_least("held")
            reasons.append(_reason("abuse", signal))
    for signal in signals:
        code = RULE_CATEGORIES.get(signal.category)
        thresholds = policy.categories.get(signal.category)
        if code is None:
            continue
        if signal.details.get("learned"):
            # As for Detoxify's scores: a learned abuse score holds a post only when the text is aimed at
            # someone. Unaimed short posts ("second version") scored high: the head saw few such texts.
            if signal.score < learned_threshold(policy, signal) or (signal.category == "abuse" and not aimed):
                continue
            reasons.append(_reason(code, signal, action="hold", nearest=signal.details.get("nearest", [])))
            at_least("held")
            continue
        if thresholds is None or (action := thresholds.action(signal.score)) is None:
            continue
        if signal.category == "privacy":
            redactions += [tuple(span) for span in signal.details.get("redact", [])]
            if not signal.details.get("redaction_safe", True):
                action = "remove" if action == "remove" else "hold"  # doxxing: never published, even redacted
            reasons.append(_reason(code, signal, action="redact", decided=action, details={
                "redacted_text": redact(text, [tuple(s) for s in signal.details.get("redact", [])]),
                "kinds": signal.details.get("kinds", []), "redaction_safe": signal.details.get("redaction_safe", True)}))
        else:
            reasons.append(_reason(code, signal, action=action))
        if action == "flag":
            flagged = True
        else:
            at_least("held" if action == "hold" else "removed")
    for signal in (s for s in signals if s.category == "watched"):
        action = signal.details.get("action", "hold")
        reasons.append(_reason("watched", signal, action=action, entry=signal.details.get("entry")))
        at_least(WATCHED_OUTCOME.get(action, "held"))
        flagged = flagged or action == "flag"
        redactions += [tuple(span) for span in signal.details.get("redact", [])]
    if crisis and outcome == "removed":
        outcome = "held"  # an escalated post is never removed automatically: the crisis worker sees it as written
    priority = max([PRIORITY.get(level or "", 0)] + [PRIORITY.get(r["code"], 0) for r in reasons])
    redacted = redact(text, redactions) if redactions else None
    return Decision(outcome, reasons, level, priority, flagged and outcome == "published", redacted)


def _reason(code: str, signal: Signal, **extra: Any) -> dict[str, Any]:
    return {"code": code, "category": signal.category, "score": round(signal.score, 4),
            "evidence": signal.evidence, "detector": signal.detector, **extra}


# --- documents -----------------------------------------------------------------------------------------------------


@cache
def _default_document_text() -> str:
    return DEFAULT_DOCUMENT.read_text(encoding="utf-8")


def load_document(path: Path | None = None) -> dict[str, Any]:
    """A policy document from a YAML or JSON file (JSON is YAML); the shipped default when ``path`` is None."""
    import yaml

    try:
        text = _default_document_text() if path is None else Path(path).read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read policy document {str(path or DEFAULT_DOCUMENT)!r}: {e}") from e
    if not isinstance(document, dict):
        raise ConfigError(f"policy document {str(path or DEFAULT_DOCUMENT)!r} is not a mapping")
    return document


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` on ``base``: mappings merge key by key, anything else (lists included) replaces."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_TOP_KEYS = {"version", "description", "toxicity", "crisis", "categories", "watched", "classifier"}


def _parse(document: dict[str, Any]) -> Policy:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError("a policy document must be a mapping")
    for key in sorted(set(document) - _TOP_KEYS):
        problems.append(f"unknown key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    version = document.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        problems.append("version must be 1-64 letters, digits or ._:+@- (e.g. 'default-2')")
    toxicity = _section(document, "toxicity", {"abuse_hold", "threat_hold"}, problems)
    if "remove" in toxicity:
        problems.append("toxicity: ML scores never remove a post; use categories or watched words to remove")
    abuse_hold = _probability(toxicity.get("abuse_hold", 0.8), "toxicity.abuse_hold", problems)
    threat_hold = _probability(toxicity.get("threat_hold", 0.7), "toxicity.threat_hold", problems)
    crisis = _section(document, "crisis", {"hold_method_detail"}, problems)
    if "escalate" in crisis or "remove" in crisis:
        problems.append("crisis: a crisis signal always escalates and never removes; only hold_method_detail is set here")
    hold_method = crisis.get("hold_method_detail", True)
    if not isinstance(hold_method, bool):
        problems.append("crisis.hold_method_detail must be true or false")
    categories = _default_categories()
    raw_categories = _section(document, "categories", set(RULE_CATEGORIES), problems)
    for name, raw in raw_categories.items():
        if not isinstance(raw, dict) or set(raw) - set(CATEGORY_ACTIONS):
            problems.append(f"categories.{name} must map some of {', '.join(CATEGORY_ACTIONS)} to scores")
            continue
        values = {k: _probability(v, f"categories.{name}.{k}", problems) if v is not None else None
                  for k, v in raw.items()}
        set_values = [values[k] for k in CATEGORY_ACTIONS if values.get(k) is not None]
        if set_values != sorted(set_values):
            problems.append(f"categories.{name}: thresholds must rise from flag to hold to remove")
        categories[name] = Thresholds(**values)
    try:
        watched = WatchList.from_document(document.get("watched"))
    except ConfigError as e:
        problems.append(str(e))
        watched = WatchList()
    classifier = _classifier(document.get("classifier"), problems)
    if problems:
        raise ConfigError("invalid policy document:\n  " + "\n  ".join(problems))
    return Policy(version, abuse_hold, threat_hold, hold_method, categories, watched, classifier)


def _classifier(section: Any, problems: list[str]) -> dict[str, Any]:
    """``classifier: {crisis: {watch: p, high: p, imminent: p}, sourcing: p, abuse: p}``, every key optional."""
    if section is None:
        return {}
    if not isinstance(section, dict) or set(section) - set(LEARNED_HEADS):
        problems.append(f"classifier must map some of {', '.join(LEARNED_HEADS)} to thresholds")
        return {}
    out: dict[str, Any] = {}
    for head, value in section.items():
        if head != "crisis":
            out[head] = _probability(value, f"classifier.{head}", problems)
        elif not isinstance(value, dict) or set(value) - set(CRISIS_LEVELS):
            problems.append(f"classifier.crisis must map some of {', '.join(CRISIS_LEVELS)} to thresholds")
        else:
            out[head] = {level: _probability(p, f"classifier.crisis.{level}", problems) for level, p in value.items()}
    return out


def _section(document: dict[str, Any], name: str, allowed: set[str], problems: list[str]) -> dict[str, Any]:
    section = document.get(name) or {}
    if not isinstance(section, dict):
        problems.append(f"{name} must be a mapping")
        return {}
    for key in sorted(set(section) - allowed - {"remove", "escalate"}):
        problems.append(f"{name}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    return section


def _probability(value: Any, name: str, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        problems.append(f"{name} must be a number between 0 and 1, got {value!r}")
        return 1.0
    return float(value)
