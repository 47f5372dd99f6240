"""What every service shares around its ``create_app``: the app skeleton it starts from, and the entry
point (config from the environment, migrations, then serve until SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from services.common.errors import ConfigError, InfrastructureError
from services.common.http.app import new_app
from services.common.logs import configure_logging
from services.common.migrations import apply_migrations
from services.common.resources import TOPICS
from services.common.tokens import TokenVerifier
from services.common.topics import TopicNames


def service_app(name: str, config: Any, config_key: web.AppKey, directory: Path) -> web.Application:
    """The first lines of every ``create_app``: Haven's middlewares and operational routes, the token
    verifier, CORS, the service's ``openapi.yaml`` (in ``directory``), its config and its topic names.

    ``config`` is the service's config dataclass; its ``common`` field holds what all services share.
    """
    common = config.common
    app = new_app(service=name, openapi=directory / "openapi.yaml",
                  verifier=TokenVerifier.from_file(common.token_public_key_file),
                  cors_origins=common.cors_allowed_origins)
    app[config_key] = config
    app[TOPICS] = TopicNames(common.topic_prefix)
    return app


async def migrate(dsn: str, schema: str, directory: Path) -> list[int]:
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as e:
        raise InfrastructureError(f"cannot connect to PostgreSQL to migrate {schema}") from e
    try:
        return await apply_migrations(conn, schema, directory)
    finally:
        await conn.close()


def serve(name: str, load_config: Callable[[dict[str, str]], Any], create_app: Callable[[Any], web.Application],
          schema: str, migrations: Path) -> None:
    """Run one service: validate config (one line per problem), migrate, serve; SIGTERM shuts down gracefully."""
    try:
        config = load_config(dict(os.environ))
    except ConfigError as e:
        print(f"{name}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(name, config.common.log_level)
    try:
        asyncio.run(migrate(config.common.database_url, schema, migrations))
        app = create_app(config)
    except (ConfigError, InfrastructureError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    web.run_app(app, host=config.common.http_host, port=config.common.http_port, print=None,
                shutdown_timeout=20, access_log=None, loop=event_loop())


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop (libuv; cheaper socket writes and callbacks, see bench/README.md), unless ``HAVEN_UVLOOP=0``
    or uvloop is not installed (it does not exist on Windows): then the standard asyncio loop."""
    if os.environ.get("HAVEN_UVLOOP", "1").strip() != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
