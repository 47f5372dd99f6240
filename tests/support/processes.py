"""The services as real processes (``python -m services.<name>``): start, SIGKILL, restart.

Each keeps its port across restarts, so clients (the load generator) reach the new
incarnation at the same address. Output goes to one log file per process; a start that
fails shows its tail. A service may run as several instances (a :class:`ServiceGroup`),
as a scaled-out deployment does: one consumer group, several members.
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
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, instance: int = 1, *, nice: int = 0) -> None:
        self.name = name
        self.instance = instance
        self.nice = nice  # CPU priority (as a deployment gives the crisis path guaranteed CPU and batch work less)
        self.port = free_ports("127.0.0.1", 1)[0]
        self.env = {**os.environ, **env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        self.log = log_dir / (f"{name}.log" if instance == 1 else f"{name}-{instance}.log")
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 120.0) -> None:
        with self.log.open("ab") as output:
            prefix = ["nice", "-n", str(self.nice)] if self.nice else []
            self.process = await asyncio.create_subprocess_exec(
                *prefix, sys.executable, "-m", f"services.{self.name}", env=self.env, stdout=output, stderr=output,
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
            await eventually(ready, timeout=timeout, interval=0.3, what=f"{self.name}-{self.instance} process ready")
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


class ServiceGroup:
    """The instances of one service: the same settings, a port each, one consumer group."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, instances: int = 1, *, nice: int = 0) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.instances = [ServiceProcess(name, env, log_dir, n + 1, nice=nice) for n in range(instances)]

    @property
    def url(self) -> str:
        """The first instance's address (set-up requests: any instance answers the same)."""
        return self.instances[0].url

    @property
    def urls(self) -> list[str]:
        return [instance.url for instance in self.instances]

    @property
    def kills(self) -> int:
        return sum(instance.kills for instance in self.instances)

    @property
    def env(self) -> dict[str, str]:
        return self.instances[0].env

    async def start(self) -> None:
        """Start every instance not running (in parallel)."""
        await asyncio.gather(*(i.start() for i in self.instances if not i.running()))

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self.instances), return_exceptions=True)

    def tail(self, chars: int = 4000) -> str:
        return "\n".join(f"[{self.name}-{i.instance}]\n{i.tail(chars)}" for i in self.instances)


class ServiceProcesses:
    """All three services, ``instances`` processes each; ``async with`` stops every one, also when the test fails."""

    def __init__(self, env: dict[str, str], log_dir: Path,
                 per_service: dict[str, dict[str, str]] | None = None, instances: int = 1) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        per_service = per_service or {}
        self.services = {name: ServiceGroup(name, {**env, **per_service.get(name, {})}, log_dir, instances)
                         for name in SERVICES}

    def __getitem__(self, name: str) -> ServiceGroup:
        return self.services[name]

    async def __aenter__(self) -> ServiceProcesses:
        try:
            # Forum's first instance first: it migrates its schema (the common outbox/inbox too) before the
            # others race it.
            forum = self.services["forum"]
            await forum.instances[0].start()
            await asyncio.gather(forum.start(), self.services["moderation"].start(),
                                 self.services["notifications"].start())
        except BaseException:
            await self.stop_all()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_all()

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.services.values()), return_exceptions=True)
