"""Which events notify whom (docs/architecture.md "The crisis path")."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from services.common.envelope import Event
from services.notifications.rules import CrisisResources, Planned, Recipient, plan

POST_ID, AUTHOR_ID = str(uuid.uuid4()), str(uuid.uuid4())
POST_TEXT = "I have 60 pills saved and I am going to take them all tonight"
METHOD_WORDS = ("pill", "pills", "rope", "overdose", "overdosing", "gun", "knife", "blade", "razor", "bridge",
                "jump", "hang", "hanging", "cut", "cutting", "poison", "fentanyl", "heroin", "insulin", "bottle")
BLAME_WORDS = ("fault", "selfish", "should have", "shouldn't", "violat", "against the rules", "inappropriate",
               "banned", "warning", "removed", "why did you", "attention")


def decision(outcome: str, reasons: list[dict] | None = None) -> Event:
    return Event.create("decision.made", key=POST_ID, producer="moderation", data={
        "decision_id": str(uuid.uuid4()), "post_id": POST_ID, "version": 2, "author_id": AUTHOR_ID,
        "community": "opioids", "outcome": outcome, "reasons": reasons or [], "scores": {"toxicity": 0.93},
        "policy_version": "default-1", "model": "detoxify-original"})


def escalation(level: str) -> Event:
    return Event.create("escalation.opened", key=str(uuid.uuid4()), producer="moderation", data={
        "escalation_id": str(uuid.uuid4()), "post_id": POST_ID, "author_id": AUTHOR_ID, "level": level,
        "opened_at": "2024-05-01T12:00:00+00:00",
        # fields a future producer might add: none of them may leak into a notification
        "body": POST_TEXT, "evidence": "take them all tonight", "community": "opioids"})


def for_author(planned: list[Planned]) -> list[Planned]:
    return [p for p in planned if p.recipient == Recipient(user_id=AUTHOR_ID)]


def support_of(level: str, resources: CrisisResources = CrisisResources()) -> dict:
    (support,) = [p for p in for_author(plan(escalation(level), resources)) if p.type == "support.resources"]
    return support.data


# --- decisions --------------------------------------------------------------------------------------------------


def test_held_notifies_the_author_with_reasons_and_the_moderators():
    reasons = [{"code": "abuse", "score": 0.9}, {"code": "threat"}, {"code": "abuse"}, {"score": 0.1}]
    planned = plan(decision("held", reasons), CrisisResources())
    assert planned == [
        Planned(Recipient(user_id=AUTHOR_ID), "post.held",
                {"post_id": POST_ID, "version": 2, "reasons": ["abuse", "threat"], "appeal": False}),
        Planned(Recipient(role="moderator"), "queue.item_held",
                {"post_id": POST_ID, "community": "opioids", "reasons": ["abuse", "threat"]}),
    ]


def test_removed_notifies_the_author_with_an_appeal_and_nobody_else():
    planned = plan(decision("removed", [{"code": "abuse"}]), CrisisResources())
    assert [(p.recipient, p.type) for p in planned] == [(Recipient(user_id=AUTHOR_ID), "post.removed")]
    assert planned[0].data["appeal"] is True
    assert planned[0].data["reasons"] == ["abuse"]


def test_published_notifies_nobody():
    assert plan(decision("published", [{"code": "crisis", "level": "watch"}]), CrisisResources()) == []


@pytest.mark.parametrize("event", [
    Event.create("post.deleted", key="p", producer="forum", data={"post_id": POST_ID, "version": 1}),
    Event.create("escalation.resolved", key="e", producer="moderation",
                 data={"escalation_id": "e", "post_id": POST_ID, "outcome": "resources_sent"}),
], ids=lambda e: e.type)
def test_other_events_notify_nobody(event):
    assert plan(event, CrisisResources()) == []


def test_held_notifications_carry_no_post_text():
    planned = plan(decision("held", [{"code": "abuse", "evidence": "you worthless idiot"}]), CrisisResources())
    assert "worthless" not in json.dumps([p.data for p in planned])


# --- crisis escalations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "paged"), [("watch", False), ("high", True), ("imminent", True)])
def test_escalation_notifies_crisis_staff_without_post_text(level, paged):
    event = escalation(level)
    (staff,) = [p for p in plan(event, CrisisResources()) if p.recipient == Recipient(role="crisis_staff")]
    assert staff.type == "crisis.escalation"
    assert staff.data == {"escalation_id": event.data["escalation_id"], "post_id": POST_ID, "level": level,
                          "opened_at": "2024-05-01T12:00:00+00:00", "paged": paged}


@pytest.mark.parametrize("level", ["watch", "high", "imminent"])
def test_no_notification_of_an_escalation_carries_the_post_text_or_evidence(level):
    dumped = json.dumps([p.data for p in plan(escalation(level), CrisisResources())])
    assert POST_TEXT not in dumped and "take them all" not in dumped


@pytest.mark.parametrize("level", ["watch", "high", "imminent"])
def test_author_gets_supportive_resources_with_the_crisis_line(level):
    support = support_of(level)
    assert support["post_id"] == POST_ID
    assert support["crisis_line"] == CrisisResources().line and "988" in support["crisis_line"]
    assert "reading your post" in support["message"]  # a person is reading


def test_the_configured_crisis_line_is_used():
    resources = CrisisResources(line="Línea 024 (España)", emergency="Llama al 112 ahora.")
    assert support_of("high", resources)["crisis_line"] == "Línea 024 (España)"
    assert support_of("imminent", resources)["emergency"] == "Llama al 112 ahora."


def test_imminent_adds_the_emergency_prompt():
    assert support_of("imminent")["emergency"] == CrisisResources().emergency


@pytest.mark.parametrize("level", ["watch", "high"])
def test_watch_and_high_have_no_emergency_prompt(level):
    assert "emergency" not in support_of(level)


@pytest.mark.parametrize("level", ["watch", "high", "imminent"])
@pytest.mark.parametrize("word", METHOD_WORDS + BLAME_WORDS)
def test_support_message_has_no_method_or_blame_words(level, word):
    text = " ".join(str(v) for v in support_of(level).values() if v != POST_ID).lower()
    assert not re.search(rf"\b{re.escape(word)}", text)


def test_an_appeal_tells_the_moderators_and_nobody_else():
    from services.common.envelope import Event as _Event
    from services.notifications.rules import CrisisResources as _Resources
    from services.notifications.rules import plan as _plan

    event = _Event.create("appeal.created", key="p", producer="forum",
                          data={"appeal_id": "a", "post_id": "p", "author_id": "u", "version": 1, "note": "please"})
    (planned,) = _plan(event, _Resources())
    assert (planned.recipient.role, planned.type, planned.category) == ("moderator", "queue.appeal", "queue")
    assert "please" not in str(planned.data), "the appeal's note stays in the queue item"


# --- an escalation raised to a higher level (an edit made it worse) ---------------------------------------------


def upgrade(level: str, previous: str = "watch") -> Event:
    return Event.create("escalation.upgraded", key=str(uuid.uuid4()), producer="moderation", data={
        "escalation_id": str(uuid.uuid4()), "post_id": POST_ID, "author_id": AUTHOR_ID, "level": level,
        "previous_level": previous, "community": "opioids", "pages": level in ("high", "imminent"),
        "opened_at": "2024-05-01T12:00:00+00:00", "post_version": 2,
        # fields a future producer might add: none of them may leak into a notification
        "body": POST_TEXT, "evidence": "take them all tonight"})


@pytest.mark.parametrize(("level", "previous"), [("high", "watch"), ("imminent", "watch"), ("imminent", "high")])
def test_an_upgrade_pages_crisis_staff_at_the_new_level(level, previous):
    event = upgrade(level, previous)
    (staff,) = [p for p in plan(event, CrisisResources()) if p.recipient == Recipient(role="crisis_staff")]
    assert staff.type == "crisis.escalation" and staff.category == "crisis"
    assert staff.data == {"escalation_id": event.data["escalation_id"], "post_id": POST_ID, "level": level,
                          "opened_at": "2024-05-01T12:00:00+00:00", "paged": True, "previous_level": previous}


def test_an_upgrade_sends_the_author_resources_again_like_an_opened_escalation():
    (support,) = for_author(plan(upgrade("imminent"), CrisisResources()))
    assert support.type == "support.resources"
    assert support.data == support_of("imminent")
    assert support.data["emergency"] == CrisisResources().emergency
    (high,) = for_author(plan(upgrade("high"), CrisisResources()))
    assert high.data == support_of("high") and "emergency" not in high.data


@pytest.mark.parametrize("level", ["high", "imminent"])
def test_an_upgrade_notification_carries_no_post_text_or_evidence(level):
    dumped = json.dumps([p.data for p in plan(upgrade(level), CrisisResources())])
    assert POST_TEXT not in dumped and "take them all" not in dumped


@pytest.mark.parametrize("word", METHOD_WORDS + BLAME_WORDS)
def test_the_upgrade_support_message_has_no_method_or_blame_words(word):
    (support,) = for_author(plan(upgrade("imminent"), CrisisResources()))
    text = " ".join(str(v) for v in support.data.values() if v != POST_ID).lower()
    assert not re.search(rf"\b{re.escape(word)}", text)
