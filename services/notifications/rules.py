"""Which events become which notifications, for whom. Pure functions: easy to test.

Crisis notifications carry no post text (docs/architecture.md, "Privacy on the crisis path"): staff open the
escalation to read it. The author of a crisis post gets supportive resources
written to safe-messaging practice: a crisis line, that a person is reading,
a way to reach staff; never method words, never blame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.common.domain import CRISIS_ROLE, PAGING_LEVELS
from services.common.envelope import Event


@dataclass(frozen=True)
class Recipient:
    user_id: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class Planned:
    recipient: Recipient
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return category_of(self.type)

    @property
    def tier(self) -> int:
        """Which rota tier a crisis page is for (tier 2 from the second missed page)."""
        return int(self.data.get("tier") or 1)


# Preferences are per category; a notification's category follows from its type.
CATEGORIES = ("crisis", "support", "account", "post", "queue", "report", "activity", "system")
_CATEGORY_OF_PREFIX = {"crisis": "crisis", "support": "support", "account": "account", "post": "post",
                       "queue": "queue", "report": "report", "reply": "activity", "reaction": "activity",
                       "webhook": "system"}


def category_of(kind: str) -> str:
    return _CATEGORY_OF_PREFIX.get(kind.split(".", 1)[0], "system")


@dataclass(frozen=True)
class CrisisResources:
    line: str = "988 Suicide & Crisis Lifeline: call or text 988 (US)"
    emergency: str = "If you are in immediate danger, please call your local emergency number (911 in the US) now."


# What the author of a post is told for each moderator action (reporters are only told "handled").
_AUTHOR_NOTICE = {"remove": "post.removed", "redact": "post.redacted", "warn": "account.warning",
                  "suspend": "account.suspended", "outreach": "support.outreach"}
_HANDLES_REPORTS = ("approve", "dismiss", "remove", "redact")


def plan_action(data: dict) -> list[Planned]:
    """Notifications for a moderator's ``action.taken``. Reporters never learn what happened to the
    other member's account, and authors never learn who reported them."""
    action = data["action"]
    author = Recipient(user_id=data["user_id"])
    planned: list[Planned] = [
        Planned(Recipient(user_id=reporter), "report.handled", {"post_id": data.get("post_id")})
        for reporter in data.get("reporter_ids") or [] if action in _HANDLES_REPORTS
    ]
    if action in _AUTHOR_NOTICE:
        notice = {"post_id": data.get("post_id"), "reason": data.get("reason"), "message": data.get("message")}
        if action == "remove":
            notice["appeal"] = True  # they can appeal a removal once
        if action == "suspend":
            notice["until"] = data.get("until")
        if action == "outreach":
            notice = {"post_id": data.get("post_id"), "escalation_id": data.get("escalation_id"),
                      "message": data.get("message")}
        planned.append(Planned(author, _AUTHOR_NOTICE[action], notice))
    elif action in ("approve", "dismiss") and data.get("restores"):
        planned.append(Planned(author, "post.restored", {"post_id": data.get("post_id")}))
    elif action == "hide":
        planned.append(Planned(Recipient(role="moderator"), "queue.report_threshold",
                               {"post_id": data.get("post_id"), "community": data.get("community")}))
    return planned


def plan(event: Event, resources: CrisisResources) -> list[Planned]:
    data = event.data
    if event.type == "action.taken":
        return plan_action(data)
    if event.type == "escalation.repaged":
        return [Planned(Recipient(role=CRISIS_ROLE), "crisis.repage",
                        {"escalation_id": data["escalation_id"], "post_id": data["post_id"], "tier": data["tier"],
                         "misses": data.get("misses"), "level": data.get("level")})]
    if event.type == "appeal.created":
        return [Planned(Recipient(role="moderator"), "queue.appeal", {"post_id": data["post_id"]})]
    if event.type == "reply.published":
        return [Planned(Recipient(user_id=data["thread_author_id"]), "reply.published",
                        {"post_id": data["post_id"], "thread_id": data["thread_id"]})]
    if event.type == "reaction.added":
        return [Planned(Recipient(user_id=data["post_author_id"]), "reaction.added",
                        {"post_id": data["post_id"], "kind": data["kind"]})]
    if event.type == "escalation.acknowledged":
        return [Planned(Recipient(role=CRISIS_ROLE), "crisis.acknowledged",
                        {"escalation_id": data["escalation_id"], "post_id": data["post_id"], "by": data["by"]})]
    if event.type == "decision.made" and data["outcome"] in ("held", "removed"):
        # Reasons marked private (the crisis assessment) are for staff, never for members.
        reasons = sorted({r["code"] for r in data["reasons"] if r.get("code") and not r.get("private")})
        return [
            Planned(Recipient(user_id=data["author_id"]), f"post.{data['outcome']}",
                    {"post_id": data["post_id"], "version": data["version"], "reasons": reasons,
                     "appeal": data["outcome"] == "removed"}),
            *([Planned(Recipient(role="moderator"), "queue.item_held",
                       {"post_id": data["post_id"], "community": data["community"], "reasons": reasons})]
              if data["outcome"] == "held" else []),
        ]
    if event.type in ("escalation.opened", "escalation.upgraded"):
        return plan_escalation(event, resources)
    return []


def plan_escalation(event: Event, resources: CrisisResources) -> list[Planned]:
    """An escalation opened, or raised to a higher level (an edit made the crisis worse): crisis staff get
    ``crisis.escalation`` at the (new) level, paged for high and imminent, and the author gets the
    supportive resources again, with the emergency prompt for imminent."""
    data = event.data
    level = data["level"]
    support = {"post_id": data["post_id"], "crisis_line": resources.line,
               "message": ("A member of our care team is reading your post and is here for you. "
                           "You don't have to go through this alone, and our care team may reach out to you here.")}
    if level == "imminent":
        support["emergency"] = resources.emergency
    staff = {"escalation_id": data["escalation_id"], "post_id": data["post_id"], "level": level,
             "opened_at": data["opened_at"], "paged": level in PAGING_LEVELS}
    if event.type == "escalation.upgraded":
        staff["previous_level"] = data["previous_level"]
    return [
        Planned(Recipient(role=CRISIS_ROLE), "crisis.escalation", staff),
        Planned(Recipient(user_id=data["author_id"]), "support.resources", support),
    ]
