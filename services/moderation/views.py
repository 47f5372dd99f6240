"""moderation's HTTP views: authorise, parse and check the request, call the queue or the desk, shape JSON.

The review queue (``review.py``) and the escalation desk (``escalations.py``) hold the domain and
return rows; the JSON each answer has (``openapi.yaml``) is written here. Domain errors raised there
become JSON errors in ``services.common.http.middleware.error_middleware``.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import asyncpg
from aiohttp import web

from services.common.domain import CRISIS_LEVELS, CRISIS_STAFF, MODERATORS
from services.common.envelope import ESCALATION_OUTCOMES
from services.common.errors import ValidationError
from services.common.http.auth import authenticate
from services.common.http.body import read_json, text_field, uuid_param
from services.common.logs import trace_id_var
from services.moderation.appkeys import CONFIG, DESK, QUEUE
from services.moderation.escalations import STATUSES, EscalationRecord
from services.moderation.review import ACTIONS, MAX_SUSPENSION_HOURS, QUEUE_STATUSES, ActionRequest, AuthorRecord, CaseFile

NOTE_MAX = 2000
BODY_MAX = 10000


# --- review queue ------------------------------------------------------------------------


async def list_queue(request: web.Request) -> web.Response:
    authenticate(request, *MODERATORS)
    query = request.query
    limit, status = _limit(query.get("limit")), query.get("status", "open")
    if status not in QUEUE_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(QUEUE_STATUSES)}", field="status")
    rows, more = await request.app[QUEUE].page(
        status=status, community=query.get("community") or None, reason=query.get("reason") or None,
        after=_decode_queue_cursor(query.get("cursor") or None), limit=limit)
    return web.json_response({"items": [_queue_item(r) for r in rows],
                              "next_cursor": _encode_queue_cursor(rows[-1]) if more else None})


async def get_queue_item(request: web.Request) -> web.Response:
    authenticate(request, *MODERATORS)
    return web.json_response(_case_file(await request.app[QUEUE].item(uuid_param(request, "item_id"))))


async def claim_queue_item(request: web.Request) -> web.Response:
    moderator = authenticate(request, *MODERATORS)
    return web.json_response(_case_file(await request.app[QUEUE].claim(moderator, uuid_param(request, "item_id"))))


async def act_on_queue_item(request: web.Request) -> web.Response:
    moderator = authenticate(request, *MODERATORS)
    action_request = _action_request(await read_json(request), request.app[CONFIG].review.removal_reasons)
    case = await request.app[QUEUE].act(moderator, uuid_param(request, "item_id"), action_request, trace_id_var.get())
    return web.json_response(_case_file(case))


def _action_request(body: dict[str, Any], removal_reasons: tuple[str, ...]) -> ActionRequest:
    """The body as an :class:`ActionRequest`, with what each action needs (400 naming the field otherwise)."""
    action = text_field(body, "action", max_length=20)
    duration = body.get("duration_hours")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
        raise ValidationError("duration_hours must be a number", field="duration_hours")
    permanent = body.get("permanent", False)
    if not isinstance(permanent, bool):
        raise ValidationError("permanent must be true or false", field="permanent")
    parsed = ActionRequest(
        action=action,
        reason=text_field(body, "reason", max_length=200, required=False),
        message=text_field(body, "message", max_length=NOTE_MAX, required=False),
        duration_hours=duration, permanent=permanent,
        redacted_body=text_field(body, "redacted_body", max_length=BODY_MAX, required=False),
        level=text_field(body, "level", max_length=10, required=False) or "high",
    )
    if parsed.action not in ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if parsed.action == "remove" and parsed.reason not in removal_reasons:
        raise ValidationError(f"reason must be one of {', '.join(removal_reasons)}", field="reason")
    if parsed.action == "redact" and not parsed.redacted_body:
        raise ValidationError("redacted_body is required to redact", field="redacted_body")
    if parsed.action == "note" and not parsed.message:
        raise ValidationError("message is required for a note", field="message")
    if parsed.action == "suspend" and parsed.duration_hours is not None and not (
            0 < parsed.duration_hours <= MAX_SUSPENSION_HOURS):  # also refuses NaN and infinity
        raise ValidationError(f"duration_hours must be above 0 and at most {MAX_SUSPENSION_HOURS} "
                              "(or use permanent)", field="duration_hours")
    if parsed.action == "escalate" and parsed.level not in CRISIS_LEVELS:
        raise ValidationError(f"level must be {', '.join(CRISIS_LEVELS[:-1])} or {CRISIS_LEVELS[-1]}", field="level")
    return parsed


async def unsuspend_user(request: web.Request) -> web.Response:
    """Admins only: lift a member's or a staff member's suspension (issue 24)."""
    admin = authenticate(request, "admin")
    body = await read_json(request)
    reason = text_field(body, "reason", max_length=200, required=False)
    record = await request.app[QUEUE].unsuspend(admin, uuid_param(request, "user_id"), reason, trace_id_var.get())
    return web.json_response(_author_record(record))


async def list_audit(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    query = request.query
    limit = _limit(query.get("limit"), maximum=500)
    cursor, actor = query.get("cursor") or None, query.get("actor") or None
    try:
        after = int(cursor) if cursor else None
    except ValueError as e:
        raise ValidationError("invalid cursor", field="cursor") from e
    try:
        actor_id = uuid.UUID(actor) if actor else None
    except ValueError as e:
        raise ValidationError("actor must be a UUID", field="actor") from e
    rows, more = await request.app[QUEUE].audit_page(
        actor=actor_id, subject=query.get("subject") or None, action=query.get("action") or None,
        after=after, limit=limit)
    return web.json_response({"items": [_audit_entry(r) for r in rows],
                              "next_cursor": str(rows[-1]["id"]) if more else None})


# --- crisis escalations -------------------------------------------------------------------


async def list_escalations(request: web.Request) -> web.Response:
    authenticate(request, *CRISIS_STAFF)
    status = request.query.get("status", "open")
    if status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}", field="status")
    return web.json_response({"items": [_escalation(r) for r in await request.app[DESK].list(status)]})


async def get_escalation(request: web.Request) -> web.Response:
    authenticate(request, *CRISIS_STAFF)
    return web.json_response(_escalation_record(await request.app[DESK].get(uuid_param(request, "escalation_id"))))


async def acknowledge_escalation(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    escalation = await request.app[DESK].acknowledge(staff, uuid_param(request, "escalation_id"), trace_id_var.get())
    return web.json_response(_escalation_record(escalation))


async def add_escalation_note(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    note = text_field(await read_json(request), "note", max_length=NOTE_MAX)
    escalation = await request.app[DESK].add_note(staff, uuid_param(request, "escalation_id"), note)
    return web.json_response(_escalation_record(escalation))


async def resolve_escalation(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    body = await read_json(request)
    outcome = text_field(body, "outcome", max_length=40, required=False)
    note = text_field(body, "note", max_length=NOTE_MAX, required=False)
    if outcome not in ESCALATION_OUTCOMES:
        raise ValidationError(f"outcome is required, one of {', '.join(ESCALATION_OUTCOMES)}", field="outcome")
    escalation = await request.app[DESK].resolve(staff, uuid_param(request, "escalation_id"), outcome, note,
                                                 trace_id_var.get())
    return web.json_response(_escalation_record(escalation))


async def send_outreach(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    message = text_field(await read_json(request), "message", max_length=NOTE_MAX)
    escalation = await request.app[DESK].outreach(staff, uuid_param(request, "escalation_id"), message,
                                                  trace_id_var.get())
    return web.json_response(_escalation_record(escalation))


# --- request parsing ----------------------------------------------------------------------------


def _limit(raw: str | None, *, maximum: int = 100) -> int:
    if raw is None:
        return 50
    try:
        value = int(raw)
    except ValueError as e:
        raise ValidationError("limit must be an integer", field="limit") from e
    if not 1 <= value <= maximum:
        raise ValidationError(f"limit must be between 1 and {maximum}", field="limit")
    return value


def _encode_queue_cursor(r: asyncpg.Record) -> str:
    """The opaque cursor after queue item ``r``: its sort key, as ``ReviewQueue.page`` takes it back."""
    key = [r["priority"], r["top_score"], r["report_weight"], r["created_at"].isoformat(), str(r["id"])]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_queue_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(key, list) and len(key) == 5):
            raise ValueError("bad key")
        uuid.UUID(key[4])
        datetime.fromisoformat(key[3])
        return key
    except (ValueError, TypeError, json.JSONDecodeError) as e:
        raise ValidationError("invalid cursor", field="cursor") from e


# --- response shaping -------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _queue_item(r: asyncpg.Record) -> dict[str, Any]:
    """A queue item as listed; a claim that has run out is shown as no claim."""
    claim_live = r["claimed_until"] is not None and r["claimed_until"] > datetime.now(timezone.utc)
    return {"id": str(r["id"]), "post_id": str(r["post_id"]), "community": r["community"],
            "author_id": str(r["author_id"]), "status": r["status"], "priority": r["priority"],
            "reasons": json.loads(r["reasons"]), "top_score": r["top_score"], "report_weight": r["report_weight"],
            "hidden_by_reports": r["hidden_by_reports"], "resolution": r["resolution"],
            "claimed_by": str(r["claimed_by"]) if claim_live else None,
            "claimed_until": r["claimed_until"].isoformat() if claim_live else None,
            "overdue": r["overdue"], "created_at": r["created_at"].isoformat()}


def _case_file(case: CaseFile) -> dict[str, Any]:
    """A queue item with everything a moderator reads before acting on it."""
    post, decision = case.post, case.decision
    item = _queue_item(case.item)
    item["post"] = None if post is None else {
        "post_id": str(post["post_id"]), "thread_id": str(post["thread_id"]), "version": post["version"],
        "title": post["title"], "body": post["body"], "deleted": post["deleted"]}
    item["history"] = [{"version": h["version"], "title": h["title"], "body": h["body"],
                        "received_at": h["received_at"].isoformat()} for h in case.history]
    item["thread_context"] = [{"post_id": str(c["post_id"]), "author_id": str(c["author_id"]),
                               "version": c["version"], "body": c["body"]} for c in case.thread_context]
    item["signals"] = json.loads(decision["signals"]) if decision else []
    item["decision"] = None if decision is None else {
        "version": decision["version"], "outcome": decision["outcome"], "reasons": json.loads(decision["reasons"]),
        "policy_version": decision["policy_version"], "model": decision["model"]}
    item["reports"] = [{"report_id": str(r["report_id"]), "reporter_id": str(r["reporter_id"]),
                        "reason": r["reason"], "note": r["note"], "post_version": r["post_version"],
                        "body_snapshot": r["body_snapshot"], "weight": r["weight"], "outcome": r["outcome"],
                        "created_at": r["created_at"].isoformat()} for r in case.reports]
    item["appeals"] = [{"appeal_id": str(a["appeal_id"]), "note": a["note"], "contested": json.loads(a["decision"]),
                        "created_at": a["created_at"].isoformat()} for a in case.appeals]
    item["author_record"] = _author_record(case.author)
    item["notes"] = _notes(case.notes)
    return item


def _author_record(a: AuthorRecord) -> dict[str, Any]:
    sanctions = a.sanctions
    return {"user_id": str(a.user_id), "first_post_at": _iso(a.first_post_at), "decisions": a.decisions,
            "warnings": sanctions["warnings"] if sanctions else 0,
            "suspensions": sanctions["suspensions"] if sanctions else 0,
            "suspended_until": _iso(sanctions["suspended_until"]) if sanctions else None}


def _notes(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{"id": str(n["id"]), "author_id": str(n["author_id"]), "note": n["note"],
             "created_at": n["created_at"].isoformat()} for n in rows]


def _escalation(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "post_id": str(r["post_id"]), "post_version": r["post_version"],
            "author_id": str(r["author_id"]), "community": r["community"], "level": r["level"],
            "status": r["status"], "evidence": json.loads(r["evidence"]), "opened_at": r["opened_at"].isoformat(),
            "upgraded_at": _iso(r["upgraded_at"]), "overdue": r["overdue"], "outcome": r["outcome"],
            "tier": r["tier"], "page_count": r["page_count"], "acknowledged_at": _iso(r["acknowledged_at"])}


def _escalation_record(record: EscalationRecord) -> dict[str, Any]:
    return {**_escalation(record.row), "notes": _notes(record.notes)}


def _audit_entry(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"].isoformat(), "actor_id": str(row["actor_id"]) if row["actor_id"] else None,
            "actor_role": row["actor_role"], "action": row["action"], "subject": row["subject"],
            "reason": row["reason"], "before": json.loads(row["before"]) if row["before"] else None,
            "after": json.loads(row["after"]) if row["after"] else None}
