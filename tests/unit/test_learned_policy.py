"""The policy reads learned signals: rules or heads, whichever fires; the higher level; community thresholds."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.moderation.policy import Policy, crisis_assessment, decide, load_document, merge
from services.moderation.signals import Signal

TRAINED = {"watch": 0.4, "high": 0.5, "imminent": 0.6}


def learned_crisis(watch: float, high: float, imminent: float) -> Signal:
    return Signal("crisis", watch, "encoder", "minilm+heads-v1",
                  {"learned": True, "label": "crisis_model", "thresholds": TRAINED, "method_detail": False,
                   "probabilities": {"watch": watch, "high": high, "imminent": imminent},
                   "nearest": [{"id": "x", "label": "crisis", "severity": "high", "text": "…", "similarity": 0.8}]})


def learned(head: str, score: float, threshold: float = 0.5) -> Signal:
    return Signal(head, score, "encoder", "minilm+heads-v1",
                  {"learned": True, "label": f"{head}_model", "threshold": threshold, "nearest": []})


def rule_crisis(level: str) -> Signal:
    return Signal("crisis", 0.9, "span", "crisis-rules-v3", {"level": level, "method_detail": False})


def with_classifier(section: dict) -> Policy:
    return Policy.from_document(merge(load_document(), {"version": "c-1", "classifier": section}))


@pytest.mark.parametrize(("probabilities", "level"), [
    ((0.39, 0.1, 0.05), None),
    ((0.40, 0.1, 0.05), "watch"),
    ((0.90, 0.55, 0.2), "high"),
    ((0.95, 0.9, 0.6), "imminent"),
    # cumulative: torn between high and imminent is still at least high
    ((0.95, 0.52, 0.3), "high"),
])
def test_the_crisis_head_escalates_at_the_highest_level_whose_threshold_it_reaches(probabilities, level) -> None:
    found, reasons, hold = crisis_assessment(Policy(), [learned_crisis(*probabilities)])
    assert found == level
    assert hold is False, "a learned signal never holds a post on its own"
    if level:
        assert reasons[0]["level"] == level and reasons[0]["private"] is True
        assert reasons[0]["nearest"][0]["similarity"] == 0.8, "staff see the nearest labelled examples"


@pytest.mark.parametrize(("rule", "head", "expected"), [
    ("watch", (0.95, 0.9, 0.7), "imminent"),
    ("imminent", (0.5, 0.1, 0.0), "imminent"),
    ("high", (0.1, 0.0, 0.0), "high"),
    (None, (0.45, 0.1, 0.0), "watch"),
])
def test_the_level_is_the_higher_of_rules_and_classifier(rule, head, expected) -> None:
    signals = ([rule_crisis(rule)] if rule else []) + [learned_crisis(*head)]
    assert decide(Policy(), "text", signals).escalation_level == expected


def test_a_community_threshold_replaces_the_trained_one() -> None:
    signal = learned_crisis(0.3, 0.2, 0.1)
    assert crisis_assessment(Policy(), [signal])[0] is None
    assert crisis_assessment(with_classifier({"crisis": {"watch": 0.25}}), [signal])[0] == "watch"
    stricter = with_classifier({"crisis": {"high": 0.95}})
    assert crisis_assessment(stricter, [learned_crisis(0.9, 0.8, 0.1)])[0] == "watch"


def test_learned_sourcing_and_abuse_hold_at_their_threshold_and_never_remove() -> None:
    assert decide(Policy(), "t", [learned("sourcing", 0.49)]).outcome == "published"
    held = decide(Policy(), "t", [learned("sourcing", 0.51)])
    assert held.outcome == "held" and [r["code"] for r in held.reasons] == ["sourcing"]
    assert decide(Policy(), "you are vermin", [learned("abuse", 0.99)]).outcome == "held"
    strict = with_classifier({"sourcing": 0.9, "abuse": 0.2})
    assert decide(strict, "t", [learned("sourcing", 0.8)]).outcome == "published"
    assert decide(strict, "@sam is vermin", [learned("abuse", 0.3)]).outcome == "held"
    removing = Policy.from_document(merge(load_document(), {"categories": {"sourcing": {"hold": 0.5, "remove": 0.6}}}))
    assert decide(removing, "t", [learned("sourcing", 0.99)]).outcome == "held", "a head never removes"


@pytest.mark.parametrize("section", [
    {"crisis": 0.5}, {"crisis": {"severe": 0.5}}, {"toxicity": 0.5}, {"sourcing": 1.5}, "0.5",
])
def test_a_bad_classifier_section_is_refused(section) -> None:
    with pytest.raises(ConfigError):
        with_classifier(section)


def test_the_classifier_section_round_trips() -> None:
    policy = with_classifier({"crisis": {"watch": 0.3}, "abuse": 0.7})
    assert Policy.from_document(policy.as_json()) == policy


def test_a_learned_abuse_score_holds_only_a_post_aimed_at_someone() -> None:
    """As Detoxify's: swearing about oneself, or a short odd post, is not abuse of anyone."""
    assert decide(Policy(), "A thread\nsecond version", [learned("abuse", 0.98)]).outcome == "published"
    assert decide(Policy(), "this disease is a fucking nightmare", [learned("abuse", 0.99)]).outcome == "published"
    assert decide(Policy(), "nobody wants you here", [learned("abuse", 0.97)]).outcome == "held"
