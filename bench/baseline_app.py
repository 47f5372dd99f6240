"""The floor for the create-post API: a bare aiohttp handler doing one asyncpg INSERT.

No authentication, no validation beyond reading the JSON body, no outbox, no revision row: what a post
could cost at the very least with the same web framework, driver and database.
``python bench/baseline_app.py PORT DSN``
"""

from __future__ import annotations

import sys
import uuid

import asyncpg
from aiohttp import web

# The services' own loop (uvloop unless HAVEN_UVLOOP=0), so the floor and Haven run on the same loop.
from services.common.service import event_loop

DDL = """
CREATE TABLE IF NOT EXISTS bench_posts (
    id uuid PRIMARY KEY, thread_id uuid NOT NULL, body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO bench_posts (id, thread_id, body) VALUES ($1, $2, $3) RETURNING created_at"


def create_app(dsn: str) -> web.Application:
    app = web.Application()

    async def pool_ctx(app: web.Application):
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        await pool.execute(DDL)
        app["pool"] = pool
        yield
        await pool.close()

    async def create_post(request: web.Request) -> web.Response:
        body = await request.json()
        post_id = uuid.uuid4()
        created = await app["pool"].fetchval(INSERT, post_id, uuid.UUID(request.match_info["thread_id"]), body["body"])
        return web.json_response({"post": {"id": str(post_id), "status": "pending",
                                           "created_at": created.isoformat()}}, status=201)

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/v1/threads/{thread_id}/posts", create_post)
    app.router.add_get("/readyz", ready)
    return app


if __name__ == "__main__":
    web.run_app(create_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=event_loop())
