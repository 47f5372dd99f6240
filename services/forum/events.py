"""Every event forum emits, one builder per event type, and forum's producer name (``PRODUCER``).

The store enqueues what these build in the same transaction as the change they announce
(``services/common/outbox.py``); their ``data`` is what ``services/common/envelope.py`` validates.
Session and role events are built in ``services/common/sessions.py`` (moderation and notifications
read them with the same code); the two builders here only name forum as their producer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.common.envelope import Event
from services.common.sessions import revoked_event, role_event

PRODUCER = "forum"


# --- forum.posts --------------------------------------------------------------


def post_created(post: dict[str, Any], thread: dict[str, Any], trace_id: str) -> Event:
    return Event.create("post.created", key=str(post["id"]), producer=PRODUCER, trace_id=trace_id,
                        data=_post_data(post, thread))


def post_edited(post: dict[str, Any], thread: dict[str, Any], trace_id: str) -> Event:
    return Event.create("post.edited", key=str(post["id"]), producer=PRODUCER, trace_id=trace_id,
                        data=_post_data(post, thread))


def _post_data(post: dict[str, Any], thread: dict[str, Any]) -> dict[str, Any]:
    """``author_role`` (optional field): moderation needs it to refuse a moderator who would warn or
    suspend staff or an admin (issue 24); forum is the only service that knows roles."""
    data = {"post_id": str(post["id"]), "thread_id": str(post["thread_id"]), "community": thread["community"],
            "author_id": str(post["author_id"]), "version": post["version"], "body": post["body"],
            "title": thread["title"] if post["is_opening"] else None}
    if post.get("author_role"):
        data["author_role"] = post["author_role"]
    return data


# --- forum.reports ------------------------------------------------------------


def report_created(report: dict[str, Any], post: dict[str, Any], reporter_id: str, reporter_since: datetime,
                   trace_id: str) -> Event:
    """The post as the reporter saw it (version and body): an edit after the report changes neither."""
    return Event.create(
        "report.created", key=str(post["id"]), producer=PRODUCER, trace_id=trace_id,
        data={"report_id": str(report["id"]), "post_id": str(post["id"]), "reporter_id": reporter_id,
              "reason": report["reason"], "note": report["note"], "post_version": post["version"],
              "body_snapshot": post["body"], "reporter_since": reporter_since.isoformat()},
    )


def appeal_created(appeal: dict[str, Any], author_id: str, trace_id: str) -> Event:
    return Event.create(
        "appeal.created", key=str(appeal["post_id"]), producer=PRODUCER, trace_id=trace_id,
        data={"appeal_id": str(appeal["id"]), "post_id": str(appeal["post_id"]), "author_id": author_id,
              "version": appeal["version"], "note": appeal["note"]},
    )


# --- forum.activity (notifications tells the people concerned) -------------------


def reaction_added(post: dict[str, Any], user_id: str, kind: str, trace_id: str) -> Event:
    return Event.create(
        "reaction.added", key=str(post["id"]), producer=PRODUCER, trace_id=trace_id,
        data={"post_id": str(post["id"]), "post_author_id": str(post["author_id"]), "user_id": user_id,
              "kind": kind},
    )


def reply_published(post_id: uuid.UUID, post: dict[str, Any], trace_id: str) -> Event:
    """``post``: the reply's thread, author, thread author and community (``queries.THREAD_AUTHOR_OF_POST``)."""
    return Event.create(
        "reply.published", key=str(post["thread_id"]), producer=PRODUCER, trace_id=trace_id,
        data={"post_id": str(post_id), "thread_id": str(post["thread_id"]), "author_id": str(post["author_id"]),
              "thread_author_id": str(post["thread_author_id"]), "community": post["community"]},
    )


# --- forum.accounts -------------------------------------------------------------


def session_revoked(user_id: str, sids: list[str], at: datetime, reason: str, *, everywhere: bool,
                    trace_id: str) -> Event:
    return revoked_event(user_id, sids, at, reason, everywhere=everywhere, producer=PRODUCER, trace_id=trace_id)


def role_changed(user_id: str, role: str, previous_role: str, changed_by: str, at: datetime, trace_id: str) -> Event:
    return role_event(user_id, role, previous_role, changed_by, at, producer=PRODUCER, trace_id=trace_id)
