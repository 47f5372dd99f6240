"""Browser tests of the web client: headless Chromium (Debian's) driven by playwright-core.

The services run in-process on real TCP ports (the integration suite's stack, on the
session's PostgreSQL and Kafka from ``tests/support/infra.py``).
The built client (``web/dist``) is served on another port with a ``config.json`` naming
the services, and that origin is the services' ``CORS_ALLOWED_ORIGINS``: the browser
makes real cross-origin calls, preflights included. Each scenario is a Node script
(``web/e2e/run.mjs <scenario>``) that the test runs and talks to over stdin/stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services import webclient
from tests.support.stack import PASSWORD, Isolation, Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
LIMITS = {"AUTH_ATTEMPTS_PER_MINUTE": "1000", "REGISTRATIONS_PER_HOUR": "1000", "POSTS_PER_MINUTE": "1000"}

Checkpoint = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _missing() -> str | None:
    if not (WEB / "dist" / "index.html").is_file():
        return "web/dist is not built (make web)"
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        return "web/node_modules lacks playwright-core (make web)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (Debian package chromium)"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


@pytest.fixture(scope="session")
def screenshots_dir(session_dir: Path) -> Path:
    """docs/screenshots with UPDATE_SCREENSHOTS=1; otherwise a scratch directory."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return Path(tempfile.mkdtemp(prefix="screenshots-", dir=session_dir))


@dataclass
class WebStack:
    stack: Stack
    base_url: str
    screenshots: Path

    async def run(self, scenario: str, inputs: dict[str, Any], checkpoints: dict[str, Checkpoint] | None = None,
                  timeout: float = 150) -> dict[str, Any]:
        """Run ``web/e2e/run.mjs <scenario>``; answer its checkpoints; return its result (failing on its error)."""
        payload = {"base_url": self.base_url, "password": PASSWORD, "community": self.stack.community,
                   "chromium": CHROMIUM, "screenshots_dir": str(self.screenshots), **inputs}
        process = await asyncio.create_subprocess_exec(
            "node", str(WEB / "e2e" / "run.mjs"), scenario, cwd=WEB,
            env={**os.environ, "E2E_INPUT": json.dumps(payload)},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        result: dict[str, Any] = {}
        output: list[str] = []

        async def converse() -> None:
            assert process.stdout is not None and process.stdin is not None
            async for raw in process.stdout:
                line = raw.decode().rstrip("\n")
                output.append(line)
                if line.startswith("@@checkpoint "):
                    _, name, data = line.split(" ", 2)
                    answer = await (checkpoints or {})[name](json.loads(data))
                    process.stdin.write((json.dumps(answer or {}) + "\n").encode())
                    await process.stdin.drain()
                elif line.startswith("@@result "):
                    result.update(json.loads(line.removeprefix("@@result ")))

        try:
            _, stderr = await asyncio.wait_for(asyncio.gather(converse(), process.stderr.read()), timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        code = await process.wait()
        assert code == 0 and "error" not in result, (
            f"scenario {scenario} failed (exit {code}): {result.get('error')}\n"
            f"stderr:\n{stderr.decode()[-4000:]}\nstdout:\n" + "\n".join(output[-40:])
            + f"\nfailure screenshots in {self.screenshots}")
        return result


@contextlib.asynccontextmanager
async def serve_client(config: dict[str, str]) -> AsyncIterator[str]:
    runner = web.AppRunner(webclient.create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def service_url(client) -> str:
    return f"http://127.0.0.1:{client.server.port}"


@contextlib.asynccontextmanager
async def web_stack(isolation: Isolation, screenshots: Path, *, without: tuple[str, ...] = ()) -> AsyncIterator[WebStack]:
    """The client served on an ephemeral port, then the services with that origin allowed, then config.json."""
    reason = _missing()
    if reason:
        pytest.fail(f"browser tests cannot run: {reason}")
    config: dict[str, str] = {"quick_exit_url": "https://www.google.com/"}
    async with serve_client(config) as base_url:
        async with start_stack(isolation, without=without, CORS_ALLOWED_ORIGINS=base_url, **LIMITS) as stack:
            # Moderation may start later in a test (fail closed, then decided): its port is known only then.
            config.update(forum=service_url(stack.forum), notifications=service_url(stack.notifications),
                          moderation=service_url(stack.moderation) if stack.moderation else "http://127.0.0.1:9")
            yield WebStack(stack, base_url + "/", screenshots)


@pytest.fixture
async def browser(isolation: Isolation, screenshots_dir: Path) -> AsyncIterator[WebStack]:
    async with web_stack(isolation, screenshots_dir) as running:
        yield running
