"""Request parsing: the JSON body and its fields, path parameters; bad input becomes a 4xx naming the field."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from services.common.errors import NotFound, PayloadTooLarge, TooLong, ValidationError

MAX_REQUEST_BYTES = 64 * 1024


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx naming what is wrong."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_REQUEST_BYTES} bytes")
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValidationError("body is not valid JSON") from e
    except RecursionError as e:
        raise ValidationError("body is nested too deeply") from e
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    _refuse_unstorable_text(body)
    return body


def text_field(
    body: dict[str, Any], name: str, *, max_length: int, min_length: int = 1, required: bool = True
) -> str | None:
    """A string field, trimmed, without NUL bytes or control characters, within length bounds."""
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL bytes", field=name)
    value = value.strip()
    if len(value) < min_length:
        raise ValidationError(f"{name} must be at least {min_length} characters", field=name)
    if len(value) > max_length:
        raise TooLong(f"{name} must be at most {max_length} characters", field=name)
    return value


def uuid_param(request: web.Request, name: str) -> str:
    """A UUID path parameter; anything else is a 404 (it names nothing)."""
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError as e:
        raise NotFound(f"no such {name.removesuffix('_id')}") from e



def _refuse_unstorable_text(body: Any) -> None:
    """Every string in a JSON body must be storable text: no NUL, no lone surrogate (``"\\ud800"``)."""
    # (value, the top-level field it sits in): the error names the field, as text_field's do.
    pending: list[tuple[Any, str | None]] = [(body, None)]
    while pending:
        value, name = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = name if name is not None else key
                pending += [(key, where), (item, where)]
        elif isinstance(value, list):
            pending.extend((item, name) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValidationError(f"{name or 'text'} must not contain NUL bytes", field=name)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValidationError(f"{name or 'text'} must be valid Unicode (no lone surrogates)",
                                      field=name) from e


