"""The services as real processes (``python -m services.<name>``): start, SIGKILL, restart.

Each keeps its port across restarts, so clients (the load generator) reach the new
incarnation at the same address. Output goes to one log file per service; a start that
fails shows its tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp

from services.common.embedded._local import free_ports
from tests.support.waiting import eventually

SERVICES = ("forum", "moderation", "notifications")


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_ports("127.0.0.1", 1)[0]
        self.env = {**os.environ, **env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        self.log = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 120.0) -> None:
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"services.{self.name}", env=self.env, stdout=output, stderr=output,
                stdin=asyncio.subprocess.DEVNULL)

        async def ready() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                    async with session.get(f"{self.url}/readyz") as response:
                        return response.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        try:
            await eventually(ready, timeout=timeout, interval=0.3, what=f"{self.name} process ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.log} ---\n{self.tail()}") from None

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is lost to the process."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1

    async def stop(self, timeout: float = 30.0) -> None:
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except asyncio.TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


class ServiceProcesses:
    """All three; ``async with`` stops every one of them, also when the test fails."""

    def __init__(self, env: dict[str, str], log_dir: Path,
                 per_service: dict[str, dict[str, str]] | None = None) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        per_service = per_service or {}
        self.services = {name: ServiceProcess(name, {**env, **per_service.get(name, {})}, log_dir)
                         for name in SERVICES}

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def __aenter__(self) -> ServiceProcesses:
        try:
            # Forum first: it migrates its schema (the common outbox/inbox too) before the others race it.
            await self.services["forum"].start()
            await asyncio.gather(self.services["moderation"].start(), self.services["notifications"].start())
        except BaseException:
            await self.stop_all()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_all()

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.services.values()), return_exceptions=True)
