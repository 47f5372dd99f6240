"""Policy: signals -> one decision (DESIGN.md "Moderation", "Post lifecycle")."""

from __future__ import annotations

import itertools

import pytest

from services.moderation.policy import Policy, decide
from services.moderation.signals import Signal

LEVELS = ("watch", "high", "imminent")
AIMED = ("you are a worthless piece of shit", "@sam shut the fuck up", "your posts are fucking garbage",
         "u r a fucking idiot")
NOT_AIMED = ("this craving is fucking killing me", "day 3 and I feel like shit", "fuck relapse, fuck this disease")


def crisis(level: str, *, method: bool | None = None) -> Signal:
    details = {"level": level} if method is None else {"level": level, "method_detail": method}
    return Signal("crisis", 0.9, "i have a plan", "crisis-rules-v1", details)


def tox(label: str, score: float) -> Signal:
    return Signal("toxicity", score, f"{label}={score:.3f}", "detoxify-original", {"label": label})


def codes(decision) -> list[str]:
    return [r["code"] for r in decision.reasons]


# --- crisis -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_crisis_escalates_with_its_level(level):
    decision = decide(Policy(), "text", [crisis(level)])
    assert decision.escalation_level == level
    assert "crisis" in codes(decision)
    assert next(r for r in decision.reasons if r["code"] == "crisis")["level"] == level


@pytest.mark.parametrize(("level", "pages"), [("watch", False), ("high", True), ("imminent", True)])
def test_only_high_and_imminent_page_crisis_staff(level, pages):
    assert decide(Policy(), "text", [crisis(level)]).pages_crisis_staff is pages


@pytest.mark.parametrize("level", LEVELS)
def test_crisis_with_present_method_detail_is_held(level):
    decision = decide(Policy(), "text", [crisis(level, method=True)])
    assert decision.outcome == "held"
    assert "safety_review" in codes(decision)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("method", [False, None], ids=["method-false", "no-method-key"])
def test_crisis_without_method_detail_is_published(level, method):
    decision = decide(Policy(), "text", [crisis(level, method=method)])
    assert decision.outcome == "published"
    assert decision.escalation_level == level


def test_no_signals_is_published_without_escalation():
    decision = decide(Policy(), "day 30 today!", [])
    assert (decision.outcome, decision.reasons, decision.escalation_level, decision.priority) == \
        ("published", [], None, 0)


# --- toxicity: abuse is toxicity aimed at someone ---------------------------------------------------------------


@pytest.mark.parametrize("text", AIMED)
@pytest.mark.parametrize("label", ["toxicity", "insult", "severe_toxicity", "identity_attack"])
def test_toxicity_at_threshold_aimed_at_someone_is_held_as_abuse(text, label):
    decision = decide(Policy(), text, [tox(label, 0.8)])
    assert decision.outcome == "held"
    assert codes(decision) == ["abuse"]
    assert decision.escalation_level is None


@pytest.mark.parametrize("text", NOT_AIMED)
def test_the_same_toxicity_without_a_target_is_published(text):
    decision = decide(Policy(), text, [tox("toxicity", 0.99)])
    assert decision.outcome == "published"
    assert decision.reasons == []


@pytest.mark.parametrize("text", AIMED)
def test_toxicity_below_threshold_is_published_even_when_aimed(text):
    assert decide(Policy(), text, [tox("toxicity", 0.7999)]).outcome == "published"


@pytest.mark.parametrize("text", AIMED + NOT_AIMED)
def test_threat_at_threshold_is_held_regardless_of_target(text):
    decision = decide(Policy(), text, [tox("threat", 0.7)])
    assert decision.outcome == "held"
    assert codes(decision) == ["threat"]


@pytest.mark.parametrize("text", AIMED + NOT_AIMED)
def test_threat_below_threshold_is_published(text):
    assert decide(Policy(), text, [tox("threat", 0.6999)]).outcome == "published"


def test_unknown_toxicity_label_never_holds():
    assert decide(Policy(), "you", [tox("sexual_explicit_v9", 1.0)]).outcome == "published"


@pytest.mark.parametrize("text", ["Thank you all for listening, this fucking craving is brutal",
                                  "fuck the U.S. insurance system, rehab costs a fortune"])
def test_swearing_that_only_mentions_you_in_passing_is_not_abuse(text):
    assert decide(Policy(), text, [tox("toxicity", 0.95)]).outcome == "published"


def test_spanish_insult_with_unaccented_tu_is_abuse():
    assert decide(Policy(), "pendejo, tu opinión no vale una mierda", [tox("insult", 0.95)]).outcome == "held"


# --- thresholds are data ----------------------------------------------------------------------------------------


def test_lower_toxicity_threshold_holds_a_score_the_default_publishes():
    signal, text = tox("insult", 0.55), "you are pathetic"
    assert decide(Policy(), text, [signal]).outcome == "published"
    assert decide(Policy(toxicity_hold=0.5), text, [signal]).outcome == "held"


def test_higher_threat_threshold_publishes_a_score_the_default_holds():
    signal = tox("threat", 0.9)
    assert decide(Policy(), "text", [signal]).outcome == "held"
    assert decide(Policy(threat_hold=0.95), "text", [signal]).outcome == "published"


def test_toxicity_threshold_does_not_move_the_threat_threshold():
    assert decide(Policy(toxicity_hold=0.1), "no target here", [tox("threat", 0.5)]).outcome == "published"


def test_policy_as_json_names_its_version_and_thresholds():
    assert Policy("p-7", 0.6, 0.5).as_json() == {"version": "p-7", "toxicity_hold": 0.6, "threat_hold": 0.5}


# --- priority ---------------------------------------------------------------------------------------------------


def test_priority_order_imminent_high_watch_threat_abuse():
    ordered = [
        decide(Policy(), "x", [crisis("imminent")]),
        decide(Policy(), "x", [crisis("high")]),
        decide(Policy(), "x", [crisis("watch")]),
        decide(Policy(), "x", [tox("threat", 0.99)]),
        decide(Policy(), "you", [tox("toxicity", 0.99)]),
        decide(Policy(), "x", []),
    ]
    priorities = [d.priority for d in ordered]
    assert priorities == sorted(priorities, reverse=True)
    assert len(set(priorities)) == len(priorities)


def test_priority_is_the_highest_of_all_reasons():
    combined = decide(Policy(), "you", [tox("toxicity", 0.99), crisis("watch"), tox("threat", 0.99)])
    assert combined.priority == decide(Policy(), "x", [crisis("watch")]).priority
    assert set(codes(combined)) == {"abuse", "crisis", "threat"}


def test_several_crisis_signals_escalate_at_the_highest_level():
    decision = decide(Policy(), "x", [crisis("imminent"), crisis("watch")])
    assert decision.escalation_level == "imminent"
    assert decision.pages_crisis_staff


# --- never removed (property-style) -----------------------------------------------------------------------------


def test_no_combination_of_signals_is_ever_removed():
    crisis_options = [None, *[(lvl, m) for lvl in LEVELS for m in (False, True)]]
    tox_options = [None, *itertools.product(("toxicity", "insult", "obscene", "threat"), (0.0, 0.5, 0.7, 0.8, 1.0))]
    policies = [Policy(), Policy(toxicity_hold=0.0, threat_hold=0.0), Policy(toxicity_hold=1.0, threat_hold=1.0)]
    checked = 0
    for c, t, text, policy in itertools.product(crisis_options, tox_options, AIMED[:1] + NOT_AIMED[:1], policies):
        signals = ([crisis(c[0], method=c[1])] if c else []) + ([tox(*t)] if t else [])
        decision = decide(policy, text, signals)
        assert decision.outcome in ("published", "held"), (signals, text)
        held_for_crisis = bool(c and c[1])
        # A threat with a crisis signal and no target is a threat against oneself: a crisis, not abuse.
        held_for_tox = bool(t) and (t[1] >= policy.threat_hold and (text in AIMED or not c) if t[0] == "threat"
                                    else t[1] >= policy.toxicity_hold and text in AIMED)
        assert (decision.outcome == "held") == (held_for_crisis or held_for_tox), (signals, text, policy)
        assert decision.escalation_level == (c[0] if c else None)
        checked += 1
    assert checked == len(crisis_options) * len(tox_options) * 2 * len(policies)


def test_a_threat_against_oneself_is_a_crisis_not_abuse():
    text = "I'm going to kill myself tonight"
    decision = decide(Policy(), text, [crisis("high", method=False), tox("threat", 0.95)])
    assert decision.outcome == "published" and decision.escalation_level == "high"
    assert decide(Policy(), "I'm going to kill you", [tox("threat", 0.95)]).outcome == "held"
