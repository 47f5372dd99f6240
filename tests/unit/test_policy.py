"""Policy: signals -> one decision (docs/architecture.md "The post lifecycle")."""

from __future__ import annotations

import itertools

import pytest

from services.common.errors import ConfigError
from services.moderation.detectors.watched import WatchList
from services.moderation.policy import Policy, Thresholds, decide, load_document, merge
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
    document = Policy("p-7", 0.6, 0.5).as_json()
    assert document["version"] == "p-7"
    assert document["toxicity"] == {"abuse_hold": 0.6, "threat_hold": 0.5}
    assert Policy.from_document(document) == Policy("p-7", 0.6, 0.5)


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


# --- the policy as a document (issue 3) --------------------------------------------------------------------------

def rule(category: str, score: float, **details) -> Signal:
    return Signal(category, score, "evidence", f"{category}-rules", details)


def watched(action: str, **details) -> Signal:
    return Signal("watched", 1.0, "spice", "watched-v1", {"action": action, "entry": "spice", **details})


def test_the_shipped_default_document_is_policy_with_no_arguments():
    assert Policy.from_document(load_document()) == Policy()


@pytest.mark.parametrize("category", ["abuse", "threat", "sourcing"])
def test_a_rule_category_at_its_hold_threshold_holds_with_its_own_reason(category):
    decision = decide(Policy(), "text", [rule(category, 0.5)])
    assert decision.outcome == "held" and codes(decision) == [category]
    assert decide(Policy(), "text", [rule(category, 0.49)]).outcome == "published"


@pytest.mark.parametrize("category", ["abuse", "threat", "sourcing", "privacy"])
def test_the_default_policy_never_removes_for_a_rule_score(category):
    assert decide(Policy(), "text", [rule(category, 1.0)]).outcome == "held"


def test_remove_comes_only_from_an_explicit_remove_threshold():
    strict = Policy(categories={**Policy().categories, "sourcing": Thresholds(hold=0.5, remove=0.9)})
    assert decide(strict, "text", [rule("sourcing", 0.95)]).outcome == "removed"
    assert decide(strict, "text", [rule("sourcing", 0.7)]).outcome == "held"


def test_ml_scores_cannot_be_given_a_remove_action():
    with pytest.raises(ConfigError, match="never remove"):
        Policy.from_document(merge(Policy().as_json(), {"toxicity": {"remove": 0.99}}))


def test_a_flag_publishes_and_queues():
    flagging = Policy(categories={**Policy().categories, "sourcing": Thresholds(flag=0.3, hold=0.6)})
    decision = decide(flagging, "text", [rule("sourcing", 0.4)])
    assert (decision.outcome, decision.flagged, decision.needs_review) == ("published", True, True)
    assert [r["action"] for r in decision.reasons] == ["flag"]


@pytest.mark.parametrize(("action", "outcome", "flagged"), [
    ("block", "removed", False), ("hold", "held", False), ("flag", "published", True), ("censor", "published", False)])
def test_watched_word_actions(action, outcome, flagged):
    decision = decide(Policy(), "buy spice here", [watched(action, **({"redact": [[4, 9, "*****"]]}
                                                                      if action == "censor" else {}))])
    assert (decision.outcome, decision.flagged) == (outcome, flagged)
    assert codes(decision) == ["watched"] and decision.reasons[0]["action"] == action
    assert decision.redacted_text == ("buy ***** here" if action == "censor" else None)


@pytest.mark.parametrize("level", LEVELS)
def test_a_crisis_post_is_never_removed_even_when_a_rule_says_remove(level):
    decision = decide(Policy(), "text", [crisis(level, method=False), watched("block")])
    assert decision.outcome == "held" and decision.escalation_level == level


def test_privacy_holds_with_a_private_redact_reason_carrying_the_redacted_text():
    text = "call me at 617-555-0123"
    signal = rule("privacy", 0.9, kinds=["phone"], redact=[[11, 23, "[phone removed]"]], redaction_safe=True)
    decision = decide(Policy(), text, [signal])
    assert decision.outcome == "held" and codes(decision) == ["privacy"]
    (reason,) = decision.reasons
    assert reason["action"] == "redact"
    assert reason["details"]["redacted_text"] == "call me at [phone removed]"
    assert decision.redacted_text == "call me at [phone removed]"


def test_doxxing_is_held_even_where_the_community_only_flags_personal_data():
    lenient = Policy(categories={**Policy().categories, "privacy": Thresholds(flag=0.5)})
    safe = rule("privacy", 0.9, kinds=["phone"], redact=[], redaction_safe=True)
    doxx = rule("privacy", 0.97, kinds=["name", "address"], redact=[], redaction_safe=False)
    assert decide(lenient, "x", [safe]).outcome == "published"
    assert decide(lenient, "x", [doxx]).outcome == "held"


@pytest.mark.parametrize(("overlay", "problem"), [
    ({"version": "has space"}, "version"),
    ({"toxicity": {"abuse_hold": 1.5}}, "toxicity.abuse_hold"),
    ({"categories": {"sourcing": {"hold": 0.9, "flag": 0.95}}}, "rise"),
    ({"categories": {"spam": {"hold": 0.5}}}, "unknown key 'spam'"),
    ({"crisis": {"escalate": False}}, "always escalates"),
    ({"surprise": 1}, "unknown key 'surprise'"),
    ({"watched": {"words": [{"text": "x", "action": "block"}]}}, "fewer than 2"),
    ({"watched": {"words": [{"text": "spice", "action": "explode"}]}}, "action must be one of"),
    ({"watched": {"links": [{"domain": "spice", "action": "censor"}]}}, "action must be one of"),
])
def test_an_invalid_document_names_the_problem(overlay, problem):
    with pytest.raises(ConfigError, match=problem):
        Policy.from_document(merge(Policy().as_json(), overlay))


def test_merge_merges_mappings_and_replaces_lists():
    base = {"categories": {"abuse": {"hold": 0.5}, "sourcing": {"hold": 0.5}}, "watched": {"words": ["a1", "b2"]}}
    merged = merge(base, {"categories": {"sourcing": {"remove": 0.9}}, "watched": {"words": ["c3"]}})
    assert merged == {"categories": {"abuse": {"hold": 0.5}, "sourcing": {"hold": 0.5, "remove": 0.9}},
                      "watched": {"words": ["c3"]}}
    assert base["watched"]["words"] == ["a1", "b2"], "the base is not changed"


def test_a_watched_list_round_trips_through_the_document():
    document = merge(Policy().as_json(), {"watched": {"words": [{"text": "spice gold", "action": "block"}],
                                                      "links": [{"domain": "t.me", "action": "hold"}]}})
    policy = Policy.from_document(document)
    assert isinstance(policy.watched, WatchList) and len(policy.watched.words) == 1
    assert Policy.from_document(policy.as_json()) == policy
