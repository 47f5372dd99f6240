"""forum's HTTP views: parse and check input, call the store, shape JSON.

Views never touch asyncpg; domain errors raised here or in the store become
JSON errors in ``services.common.http.middleware.error_middleware``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from services.common.errors import AccountSuspended, Unauthorized, ValidationError
from services.common.http.addresses import client_address
from services.common.http.appkeys import SESSIONS
from services.common.http.auth import authenticate
from services.common.http.body import read_json, text_field, uuid_param
from services.common.logs import trace_id_var
from services.common.tokens import Principal
from services.forum.appkeys import CONFIG, LIMITS, SIGNER, STORE
from services.forum.store import visible_reasons

HANDLE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
SLUG = re.compile(r"^[a-z0-9-]{2,48}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 256


# --- auth ------------------------------------------------------------------


async def register(request: web.Request) -> web.Response:
    body = await read_json(request)
    handle = _handle(body)
    password = _password(body)
    email = text_field(body, "email", max_length=254, required=False)
    if email is not None and "@" not in email:
        raise ValidationError("email is not an address", field="email")
    request.app[LIMITS].registrations.check(client_address(request), "registrations")
    user = await request.app[STORE].create_user(handle, password, "member", email)
    return web.json_response(await _session(request, user), status=201)


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    handle = text_field(body, "handle", max_length=64)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise ValidationError("password is required", field="password")
    # Only failures count (services/common/ratelimit.LoginGuard): spraying a handle cannot lock its owner out.
    guard = request.app[LIMITS].logins
    attempt = guard.begin(handle, client_address(request))
    try:
        user = await request.app[STORE].login(handle, password[:PASSWORD_MAX])
    except Unauthorized:
        guard.failed(attempt)
        raise
    except AccountSuspended:
        guard.succeeded(attempt)  # the right password: not a guess (the 403 is still the answer)
        raise
    except BaseException:
        guard.abandon(attempt)  # no verdict on the password (e.g. PostgreSQL down): counts nothing
        raise
    guard.succeeded(attempt)
    return web.json_response(await _session(request, user))


async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request)
    token = text_field(body, "refresh_token", max_length=200)
    user, sid, refresh_token = await request.app[STORE].use_refresh_token(token, trace_id_var.get())
    return web.json_response(_tokens(request, user, sid, refresh_token))


async def _session(request: web.Request, user: dict[str, Any]) -> dict[str, Any]:
    """A new session (sign-in, registration): its access token names it (``sid``)."""
    sid, refresh_token = await request.app[STORE].start_session(user["id"])
    return _tokens(request, user, sid, refresh_token)


def _tokens(request: web.Request, user: dict[str, Any], sid: str, refresh_token: str) -> dict[str, Any]:
    principal = Principal(user_id=user["id"], handle=user["handle"], role=user["role"])
    signer = request.app[SIGNER]
    return {
        "user": user,
        "token": signer.issue(principal, sid=sid),
        "expires_in": signer.ttl_seconds,
        "refresh_token": refresh_token,
    }


async def logout(request: web.Request) -> web.Response:
    """End this session: its refresh-token family, and its access token on every service.

    Proof of the session is the access token, or the refresh token in the body (an access token
    may have expired in an idle tab); either suffices. Allowed while suspended; twice is harmless.
    """
    body = await read_json(request) if request.body_exists else {}
    refresh_token = text_field(body, "refresh_token", max_length=200, required=False)
    principal = None
    if "Authorization" in request.headers or refresh_token is None:
        try:
            principal = authenticate(request, allow_suspended=True)
        except Unauthorized:
            if refresh_token is None:
                raise
    if principal is not None and principal.sid is None and refresh_token is None:
        raise ValidationError("this token predates session ids: send the refresh_token to end its session",
                              field="refresh_token")
    ended = await request.app[STORE].end_session(principal, refresh_token, trace_id_var.get())
    request.app[SESSIONS].revoke_here(ended)  # this instance refuses them now; the others within a second
    return web.Response(status=204)


async def logout_all(request: web.Request) -> web.Response:
    """Sign out everywhere: every session of the account ends on every service. Allowed while suspended."""
    principal = authenticate(request, allow_suspended=True)
    sids, at = await request.app[STORE].end_all_sessions(principal, trace_id_var.get())
    request.app[SESSIONS].revoke_here(sids, principal.user_id, at)
    return web.Response(status=204)


async def set_role(request: web.Request) -> web.Response:
    """An admin changes an account's role; it takes effect on every service at once (role.changed)."""
    admin = authenticate(request, "admin")
    body = await read_json(request)
    role = body.get("role")
    if not isinstance(role, str):
        raise ValidationError("role is required", field="role")
    user, changed = await request.app[STORE].change_role(admin, uuid_param(request, "user_id"), role,
                                                         trace_id_var.get())
    if changed:
        request.app[SESSIONS].set_role_here(user["id"], user["role"])
    return web.json_response({"user": user, "changed": changed})


def _handle(body: dict[str, Any]) -> str:
    handle = text_field(body, "handle", max_length=32, min_length=3)
    if not HANDLE.match(handle):
        raise ValidationError("handle may hold letters, digits, '_', '.', '-' (3-32)", field="handle")
    return handle


def _password(body: dict[str, Any]) -> str:
    password = body.get("password")
    if not isinstance(password, str):
        raise ValidationError("password is required", field="password")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or "\x00" in password:
        raise ValidationError(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters", field="password")
    return password


# --- communities and threads ---------------------------------------------------


async def list_communities(request: web.Request) -> web.Response:
    authenticate(request)
    communities = await request.app[STORE].list_communities()
    return web.json_response({"communities": [_community(c) for c in communities]})


async def create_community(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    body = await read_json(request)
    slug = text_field(body, "slug", max_length=48, min_length=2)
    if not SLUG.match(slug):
        raise ValidationError("slug may hold lowercase letters, digits and '-'", field="slug")
    name = text_field(body, "name", max_length=100)
    description = text_field(body, "description", max_length=1000, required=False) or ""
    community = await request.app[STORE].create_community(slug, name, description)
    return web.json_response({"community": _community(community)}, status=201)


async def list_threads(request: web.Request) -> web.Response:
    viewer = authenticate(request)
    threads = await request.app[STORE].list_threads(viewer, request.match_info["slug"])
    return web.json_response({"threads": [
        {"id": str(t["id"]), "title": t["title"], "community": t["community"],
         "created_at": t["created_at"].isoformat()} for t in threads]})


async def create_thread(request: web.Request) -> web.Response:
    author = authenticate(request)
    body = await read_json(request)
    config = request.app[CONFIG]
    title = text_field(body, "title", max_length=config.title_max_chars)
    text = text_field(body, "body", max_length=config.post_max_chars)
    request.app[LIMITS].posts.check(author.user_id, "posts")
    thread, post = await request.app[STORE].create_thread(
        author, request.match_info["slug"], title, text, trace_id_var.get())
    return web.json_response({"thread": _thread(thread), "post": _post(post, author)}, status=201)


async def get_thread(request: web.Request) -> web.Response:
    viewer = authenticate(request)
    thread, posts = await request.app[STORE].get_thread(viewer, uuid_param(request, "thread_id"))
    return web.json_response({"thread": _thread(thread), "posts": [_post(p, viewer) for p in posts]})


# --- posts -------------------------------------------------------------------


async def create_reply(request: web.Request) -> web.Response:
    author = authenticate(request)
    text = await _post_text(request, author)
    post = await request.app[STORE].add_reply(author, uuid_param(request, "thread_id"), text, trace_id_var.get())
    return web.json_response({"post": _post(post, author)}, status=201)


async def get_post(request: web.Request) -> web.Response:
    viewer = authenticate(request)
    post = await request.app[STORE].get_post(viewer, uuid_param(request, "post_id"))
    return web.json_response({"post": _post(post, viewer)})


async def edit_post(request: web.Request) -> web.Response:
    editor = authenticate(request)
    text = await _post_text(request, editor)
    post = await request.app[STORE].edit_post(editor, uuid_param(request, "post_id"), text, trace_id_var.get())
    return web.json_response({"post": _post(post, editor)})


async def _post_text(request: web.Request, author: Principal) -> str:
    """The text of a reply or an edit; checked before it counts against the author's posting rate."""
    text = text_field(await read_json(request), "body", max_length=request.app[CONFIG].post_max_chars)
    request.app[LIMITS].posts.check(author.user_id, "posts")
    return text


async def react_to_post(request: web.Request) -> web.Response:
    member = authenticate(request)
    kind = text_field(await read_json(request), "kind", max_length=20)
    request.app[LIMITS].posts.check(member.user_id, "reactions")
    counts, created = await request.app[STORE].react(member, uuid_param(request, "post_id"), kind, trace_id_var.get())
    return web.json_response({"reactions": counts}, status=201 if created else 200)


async def appeal_post(request: web.Request) -> web.Response:
    author = authenticate(request)
    note = text_field(await read_json(request), "note", max_length=2000, required=False)
    appeal = await request.app[STORE].appeal(author, uuid_param(request, "post_id"), note, trace_id_var.get())
    return web.json_response({"appeal": {"id": str(appeal["id"]), "post_id": str(appeal["post_id"]),
                                         "version": appeal["version"], "note": appeal["note"],
                                         "created_at": appeal["created_at"].isoformat()}}, status=201)


async def report_post(request: web.Request) -> web.Response:
    reporter = authenticate(request)
    body = await read_json(request)
    reason = text_field(body, "reason", max_length=40)
    note = text_field(body, "note", max_length=1000, required=False)
    request.app[LIMITS].reports.check(reporter.user_id, "reports")
    report, created = await request.app[STORE].report_post(
        reporter, uuid_param(request, "post_id"), reason, note, trace_id_var.get())
    return web.json_response({"report": _report(report), "duplicate": not created}, status=201 if created else 200)


# --- shapes ------------------------------------------------------------------


def _community(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "slug": row["slug"], "name": row["name"], "description": row["description"]}


def _thread(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "community": row["community"], "title": row["title"],
            "author_id": str(row["author_id"]), "created_at": row["created_at"].isoformat()}


def _post(row: dict[str, Any], viewer: Principal) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "thread_id": str(row["thread_id"]), "author_id": str(row["author_id"]),
        "author": row["author_handle"], "body": row["body"], "version": row["version"], "status": row["status"],
        "reasons": visible_reasons(viewer, row), "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _report(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "post_id": str(row["post_id"]), "reason": row["reason"],
            "post_version": row["post_version"], "created_at": row["created_at"].isoformat()}
