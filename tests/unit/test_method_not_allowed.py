"""A method a resource does not have: 405 in the one JSON error shape, with the ``Allow`` header RFC 9110
requires (a generated client reads it to know what the resource offers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.http.app import new_app
from services.common.tokens import TokenVerifier, generate_keypair


@pytest.fixture
async def client(tmp_path: Path):
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    app = new_app(service="t", openapi=tmp_path / "o.yaml", verifier=TokenVerifier.from_file(public),
                  cors_origins=())

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/v1/things", ok)
    app.router.add_post("/v1/things", ok)
    async with TestClient(TestServer(app)) as running:
        yield running


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "TRACE"])
async def test_an_undeclared_method_is_a_json_405_that_names_the_allowed_ones(client, method: str) -> None:
    response = await client.request(method, "/v1/things")
    assert response.status == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_other_http_errors_carry_no_allow_header(client) -> None:
    response = await client.get("/v1/nowhere")
    assert response.status == 404 and "Allow" not in response.headers
