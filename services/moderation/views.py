"""moderation's HTTP views: authorise, parse, call the queue or the desk, shape JSON."""

from __future__ import annotations

from aiohttp import web

from services.common.errors import ValidationError
from services.common.http.auth import authenticate
from services.common.http.body import read_json, text_field, uuid_param
from services.common.logs import trace_id_var
from services.moderation.appkeys import DESK, QUEUE
from services.moderation.review import ActionRequest

MODERATORS = ("moderator", "admin")
CRISIS_STAFF = ("crisis_staff", "admin")
NOTE_MAX = 2000
BODY_MAX = 10000


# --- review queue ------------------------------------------------------------------------


async def list_queue(request: web.Request) -> web.Response:
    authenticate(request, *MODERATORS)
    query = request.query
    items, next_cursor = await request.app[QUEUE].page(
        status=query.get("status", "open"), community=query.get("community") or None,
        reason=query.get("reason") or None, cursor=query.get("cursor") or None, limit=_limit(query.get("limit")))
    return web.json_response({"items": items, "next_cursor": next_cursor})


async def get_queue_item(request: web.Request) -> web.Response:
    authenticate(request, *MODERATORS)
    return web.json_response(await request.app[QUEUE].item(uuid_param(request, "item_id")))


async def claim_queue_item(request: web.Request) -> web.Response:
    moderator = authenticate(request, *MODERATORS)
    return web.json_response(await request.app[QUEUE].claim(moderator, uuid_param(request, "item_id")))


async def act_on_queue_item(request: web.Request) -> web.Response:
    moderator = authenticate(request, *MODERATORS)
    body = await read_json(request)
    action = text_field(body, "action", max_length=20)
    duration = body.get("duration_hours")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
        raise ValidationError("duration_hours must be a number", field="duration_hours")
    permanent = body.get("permanent", False)
    if not isinstance(permanent, bool):
        raise ValidationError("permanent must be true or false", field="permanent")
    action_request = ActionRequest(
        action=action,
        reason=text_field(body, "reason", max_length=200, required=False),
        message=text_field(body, "message", max_length=NOTE_MAX, required=False),
        duration_hours=duration, permanent=permanent,
        redacted_body=text_field(body, "redacted_body", max_length=BODY_MAX, required=False),
        level=text_field(body, "level", max_length=10, required=False) or "high",
    )
    item = await request.app[QUEUE].act(moderator, uuid_param(request, "item_id"), action_request, trace_id_var.get())
    return web.json_response(item)


async def unsuspend_user(request: web.Request) -> web.Response:
    """Admins only: lift a member's or a staff member's suspension (issue 24)."""
    admin = authenticate(request, "admin")
    body = await read_json(request)
    reason = text_field(body, "reason", max_length=200, required=False)
    record = await request.app[QUEUE].unsuspend(admin, uuid_param(request, "user_id"), reason, trace_id_var.get())
    return web.json_response(record)


async def list_audit(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    query = request.query
    entries, next_cursor = await request.app[QUEUE].audit_page(
        actor=query.get("actor") or None, subject=query.get("subject") or None, action=query.get("action") or None,
        cursor=query.get("cursor") or None, limit=_limit(query.get("limit"), maximum=500))
    return web.json_response({"items": entries, "next_cursor": next_cursor})


# --- crisis escalations -------------------------------------------------------------------


async def list_escalations(request: web.Request) -> web.Response:
    authenticate(request, *CRISIS_STAFF)
    return web.json_response({"items": await request.app[DESK].list(request.query.get("status", "open"))})


async def get_escalation(request: web.Request) -> web.Response:
    authenticate(request, *CRISIS_STAFF)
    return web.json_response(await request.app[DESK].get(uuid_param(request, "escalation_id")))


async def acknowledge_escalation(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    escalation = await request.app[DESK].acknowledge(staff, uuid_param(request, "escalation_id"), trace_id_var.get())
    return web.json_response(escalation)


async def add_escalation_note(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    note = text_field(await read_json(request), "note", max_length=NOTE_MAX)
    return web.json_response(await request.app[DESK].add_note(staff, uuid_param(request, "escalation_id"), note))


async def resolve_escalation(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    body = await read_json(request)
    outcome = text_field(body, "outcome", max_length=40, required=False)
    note = text_field(body, "note", max_length=NOTE_MAX, required=False)
    escalation = await request.app[DESK].resolve(staff, uuid_param(request, "escalation_id"), outcome, note,
                                                 trace_id_var.get())
    return web.json_response(escalation)


async def send_outreach(request: web.Request) -> web.Response:
    staff = authenticate(request, *CRISIS_STAFF)
    message = text_field(await read_json(request), "message", max_length=NOTE_MAX)
    escalation = await request.app[DESK].outreach(staff, uuid_param(request, "escalation_id"), message,
                                                  trace_id_var.get())
    return web.json_response(escalation)


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
