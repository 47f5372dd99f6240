"""CORS for the web client: an exact allow-list (never a wildcard), preflights, streamed responses too."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.config import EnvReader
from services.common.errors import ConfigError
from services.common.http.app import new_app
from services.common.tokens import TokenVerifier, generate_keypair

WEB = "http://127.0.0.1:8000"


@pytest.fixture
async def client(tmp_path: Path):
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    app = new_app(service="t", openapi=tmp_path / "o.yaml", verifier=TokenVerifier.from_file(public),
                  cors_origins=(WEB, "http://localhost:8000"))

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": ping\r\n\r\n")
        return response

    app.router.add_get("/stream", stream)
    async with TestClient(TestServer(app)) as running:
        yield running


async def test_preflight_from_an_allowed_origin_is_answered_with_the_client_headers(client):
    response = await client.options("/healthz", headers={
        "Origin": WEB, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == WEB
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "last-event-id", "x-trace-id"} <= allowed
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


async def test_other_origins_get_no_cors_headers(client):
    preflight = await client.options("/healthz", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "GET"})
    plain = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    for response in (preflight, plain):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
        assert "Origin" in response.headers["Vary"]


async def test_responses_and_streams_to_an_allowed_origin_expose_trace_id_and_retry_after(client):
    for path in ("/healthz", "/stream", "/nowhere"):
        response = await client.get(path, headers={"Origin": "http://localhost:8000"})
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:8000", path
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert "X-Trace-Id" in exposed and "Retry-After" in exposed
        assert "Origin" in response.headers["Vary"]


async def test_authenticated_responses_stay_uncached_with_cors(client):
    response = await client.get("/healthz", headers={"Origin": WEB, "Authorization": "Bearer x"})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_allow_list_is_exact_origins_and_refuses_wildcards():
    env = EnvReader({"CORS_ALLOWED_ORIGINS": " http://127.0.0.1:8000, https://Haven.example.org ,,"})
    assert env.origins("CORS_ALLOWED_ORIGINS") == ("http://127.0.0.1:8000", "https://haven.example.org")
    assert EnvReader({}).origins("CORS_ALLOWED_ORIGINS") == ()
    bad = EnvReader({"CORS_ALLOWED_ORIGINS": "*,https://*.example.org,ftp://x,https://x.org/path"})
    assert bad.origins("CORS_ALLOWED_ORIGINS") == ()
    assert len(bad.problems) == 4
    with pytest.raises(ConfigError, match="wildcard"):
        bad.raise_if_problems()


async def test_without_an_allow_list_there_is_no_cors_at_all(tmp_path: Path):
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    app = new_app(service="t", openapi=tmp_path / "o.yaml", verifier=TokenVerifier.from_file(public))
    async with TestClient(TestServer(app)) as client:
        preflight = await client.options("/healthz", headers={"Origin": WEB, "Access-Control-Request-Method": "GET"})
        plain = await client.get("/healthz", headers={"Origin": WEB})
        assert preflight.status == 405
        for response in (preflight, plain):
            assert not [h for h in response.headers if h.lower().startswith("access-control-") or h == "Vary"]
