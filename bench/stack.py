"""The stack the system benchmarks run against: embedded PostgreSQL and Kafka, the services as child processes.

Each service runs as its own process (``python -m services.<name>``), as in production and ``make run``,
so the load generator does not share an event loop with what it measures, and ``py-spy`` can attach to one
service by pid. Logs go to ``<workdir>/logs/<name>.log``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, progress


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Infra:
    workdir: Path
    dsn_admin: str = ""
    bootstrap: str = ""
    private_key: Path | None = None
    public_key: Path | None = None
    _started: list = field(default_factory=list)

    def start(self) -> None:
        from services.common.embedded.kafka import EmbeddedKafka, default_cache_dir, default_pom, ensure_kafka_libs
        from services.common.embedded.postgres import EmbeddedPostgres
        from services.common.tokens import generate_keypair

        self.dsn_admin = os.environ.get("DATABASE_URL", "")
        if not self.dsn_admin:
            progress("stack: starting embedded PostgreSQL")
            postgres = EmbeddedPostgres(self.workdir / "postgres")
            postgres.start()
            self._started.append(postgres)
            self.dsn_admin = postgres.dsn()
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        if not self.bootstrap:
            libs = ensure_kafka_libs(default_cache_dir(os.environ), default_pom(), progress=progress)
            progress("stack: starting embedded Apache Kafka (KRaft)")
            kafka = EmbeddedKafka(self.workdir / "kafka", libs)
            kafka.start(timeout=180)
            self._started.append(kafka)
            self.bootstrap = kafka.bootstrap_servers
        self.private_key, self.public_key = self.workdir / "keys" / "token.pem", self.workdir / "keys" / "token.pub.pem"
        generate_keypair(self.private_key, self.public_key)

    def stop(self) -> None:
        for process in reversed(self._started):
            try:
                process.stop()
            except Exception as e:  # noqa: BLE001 - stop the rest regardless
                progress(f"stack: stopping {process.__class__.__name__} failed: {e}")
        self._started.clear()

    def database(self, name: str) -> str:
        """Create database ``name`` (once) and return its DSN."""
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self.dsn_admin)
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.dsn_admin.rsplit("/", 1)[0] + f"/{name}"


async def prepare(dsn: str, bootstrap: str, prefix: str) -> None:
    """Migrations of all three schemas and the topics under ``prefix``."""
    from services.common.service import migrate
    from services.common.topics import TopicNames, ensure_topics
    from services.forum.main import MIGRATIONS as FORUM
    from services.moderation.main import MIGRATIONS as MODERATION
    from services.notifications.main import MIGRATIONS as NOTIFICATIONS

    for schema, directory in (("forum", FORUM), ("moderation", MODERATION), ("notifications", NOTIFICATIONS)):
        await migrate(dsn, schema, directory)
    await ensure_topics(bootstrap, TopicNames(prefix))


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log}:\n"
                                   + self.log.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_process(name: str, argv: list[str], env: dict[str, str], logdir: Path, port: int) -> Service:
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        # BENCH_SERVICES_ROOT: run the services of another checkout (an A/B of two versions on one stack)
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=env.get("BENCH_SERVICES_ROOT") or ROOT, start_new_session=True)
    return Service(name, port, process, log)


def service_env(infra: Infra, dsn: str, prefix: str, model: tuple[Path, Path], **extra: str) -> dict[str, str]:
    checkpoint, config_dir = model
    return {
        **os.environ,
        "DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "HAVEN_TOPIC_PREFIX": prefix,
        "TOKEN_PUBLIC_KEY_FILE": str(infra.public_key), "TOKEN_PRIVATE_KEY_FILE": str(infra.private_key),
        "DETOXIFY_CHECKPOINT": str(checkpoint), "DETOXIFY_HF_CONFIG_PATH": str(config_dir),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING", "ACCESS_TOKEN_TTL_SECONDS": "3600",
        # the bench is one client address and a handful of accounts: lift the per-account limits
        "POSTS_PER_MINUTE": "1000000", "REGISTRATIONS_PER_HOUR": "1000000", "AUTH_ATTEMPTS_PER_MINUTE": "1000000",
        "REPORTS_PER_MINUTE": "1000000", "PENDING_SWEEP_SECONDS": "600",
        **extra,
    }


def start_service(name: str, env: dict[str, str], logdir: Path) -> Service:
    port = free_port()
    return start_process(name, [sys.executable, "-m", f"services.{name}"], {**env, "HTTP_PORT": str(port)},
                         logdir, port)
