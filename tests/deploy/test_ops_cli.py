"""The operations commands the deployment runs: init's configuration, the probe, the key generator."""

from __future__ import annotations

import asyncio
import socket
import stat
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.common.errors import InfrastructureError
from services.ops import init, keys, probe
from services.ops.roles import roles_from_env


def test_init_reports_every_missing_setting_at_once(capsys, monkeypatch) -> None:
    for name in ("HAVEN_ADMIN_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "FORUM_DB_PASSWORD", "MODERATION_DB_PASSWORD",
                 "NOTIFICATIONS_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODERATION_DB_PASSWORD", "short")
    assert init.main([]) == 2
    err = capsys.readouterr().err
    for expected in ("HAVEN_ADMIN_DATABASE_URL is required", "KAFKA_BOOTSTRAP_SERVERS is required",
                     "FORUM_DB_PASSWORD is required", "MODERATION_DB_PASSWORD: the password of haven_moderation",
                     "NOTIFICATIONS_DB_PASSWORD is required"):
        assert expected in err, err
    assert "short" not in err, "a password is never printed"


def test_init_needs_only_what_its_steps_use(monkeypatch) -> None:
    config = init.InitConfig.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "HAVEN_TOPIC_MAX_REPLICATION": "1"},
                                      database=False)
    assert (config.admin_database_url, config.kafka_bootstrap_servers, config.max_replication) == (None, "k:9092", 1)
    assert init.InitConfig.from_env({"HAVEN_ADMIN_DATABASE_URL": "postgresql://x"}, topics=False,
                                    roles=False).roles == ()


def test_roles_come_from_the_environment() -> None:
    roles = roles_from_env({"FORUM_DB_PASSWORD": "f" * 16, "MODERATION_DB_PASSWORD": "m" * 20,
                            "NOTIFICATIONS_DB_PASSWORD": "n" * 24})
    assert [(r.schema, r.role) for r in roles] == [("forum", "haven_forum"), ("moderation", "haven_moderation"),
                                                   ("notifications", "haven_notifications")]
    assert "ffff" not in repr(roles[0])


async def test_init_gives_up_on_an_unreachable_database() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines: list[str] = []
    config = init.InitConfig(f"postgresql://nobody@127.0.0.1:{port}/x", None, wait_seconds=0.6)
    with pytest.raises(InfrastructureError, match="PostgreSQL not reachable"):
        await init.run(config, say=lines.append)
    assert any("waiting for PostgreSQL" in line for line in lines)


async def test_probe_is_ok_on_200_only() -> None:
    async def ready(request):
        return web.json_response({"ready": True})

    async def not_ready(request):
        return web.json_response({"ready": False}, status=503)

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_get("/down", not_ready)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert await asyncio.to_thread(probe.probe, f"{base}/readyz")
        assert not await asyncio.to_thread(probe.probe, f"{base}/down")
        assert await asyncio.to_thread(probe.main, [f"{base}/readyz"]) == 0
    finally:
        await server.close()
    assert not probe.probe(f"{base}/readyz", timeout=0.5), "nothing listening"


def test_keys_are_written_once_private_one_owner_only(tmp_path: Path, capsys) -> None:
    assert keys.main([str(tmp_path)]) == 0
    private, public = tmp_path / keys.PRIVATE_NAME, tmp_path / keys.PUBLIC_NAME
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    before = private.read_bytes()
    assert keys.main([str(tmp_path)]) == 2, "never replaced by accident"
    assert private.read_bytes() == before
    assert keys.main([str(tmp_path), "--force"]) == 0 and private.read_bytes() != before
