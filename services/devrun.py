"""``make run``: the whole Haven stack on one machine, for development.

Starts (unless ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` name real ones)
an embedded PostgreSQL and an embedded Apache Kafka broker, applies
migrations, creates topics, starts forum (:8080), moderation (:8081) and
notifications (:8082) as child processes, seeds demo data and prints where to
look. Ctrl-C stops everything in reverse order. Everything lives in
``./.haven/`` and survives a restart: posts, users and the Kafka log alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from services.common.embedded.kafka import EmbeddedKafka, default_cache_dir, default_pom, ensure_kafka_libs
from services.common.embedded.postgres import EmbeddedPostgres
from services.common.errors import HavenError
from services.common.service import migrate
from services.common.tokens import generate_keypair
from services.common.topics import TopicNames, ensure_topics

SERVICES = (("forum", 8080), ("moderation", 8081), ("notifications", 8082))
COMMUNITIES = (
    ("recovery-stories", "Recovery stories", "Where we have been, and where we are now."),
    ("family-and-friends", "Family and friends", "For the people who love someone in recovery."),
    ("daily-check-in", "Daily check-in", "One line a day. How are you, really?"),
)
DEMO_USERS = (("river", "member"), ("sam_moderates", "moderator"), ("alex_cares", "crisis_staff"),
              ("admin", "admin"))


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


@dataclass
class DevStack:
    root: Path
    postgres: EmbeddedPostgres | None = None
    kafka: EmbeddedKafka | None = None
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_infrastructure(self, environ: dict[str, str]) -> tuple[str, str]:
        dsn = environ.get("DATABASE_URL", "").strip()
        if dsn:
            say("using PostgreSQL from DATABASE_URL")
        else:
            say("starting embedded PostgreSQL 18 (data in .haven/postgres)")
            self.postgres = EmbeddedPostgres(self.root / "postgres")
            self.postgres.start()
            self.postgres.create_database("haven")
            dsn = self.postgres.dsn("haven")
        bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if bootstrap:
            say("using Kafka from KAFKA_BOOTSTRAP_SERVERS")
        else:
            libs = ensure_kafka_libs(default_cache_dir(environ), default_pom(), progress=say)
            say("starting embedded Apache Kafka broker, KRaft mode (data in .haven/kafka; a restart can take ~15 s)")
            self.kafka = EmbeddedKafka(self.root / "kafka", libs)
            self.kafka.start(timeout=180)
            bootstrap = self.kafka.bootstrap_servers
        return dsn, bootstrap

    def start_service(self, name: str, env: dict[str, str]) -> None:
        log_path = self.root / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )

    def start_web_client(self, port: int, ports: dict[str, int]) -> None:
        log_path = self.root / "logs" / "web.log"
        urls = [arg for name in ("forum", "moderation", "notifications")
                for arg in (f"--{name}", f"http://127.0.0.1:{ports[name]}")]
        with log_path.open("ab") as log:
            self.children["web"] = subprocess.Popen(
                [sys.executable, "-m", "services.webclient", "--port", str(port), *urls],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        for name, child in reversed(list(self.children.items())):
            if child.poll() is None:
                say(f"stopping {name}")
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(25)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.kafka is not None:
            say("stopping Kafka")
            self.kafka.stop()
        if self.postgres is not None:
            say("stopping PostgreSQL")
            self.postgres.stop()


def ensure_keys(root: Path) -> tuple[Path, Path]:
    private, public = root / "keys" / "token-ed25519.pem", root / "keys" / "token-ed25519.pub.pem"
    if not private.exists():
        say("generating the Ed25519 token signing key (.haven/keys)")
        generate_keypair(private, public)
    return private, public


def ensure_model(root: Path, environ: dict[str, str]) -> dict[str, str]:
    """Real Detoxify weights when configured; otherwise a small synthetic demo model."""
    if environ.get("DETOXIFY_CHECKPOINT"):
        say(f"toxicity model: {environ['DETOXIFY_CHECKPOINT']}")
        return {}
    # The tests' builder of small, real-format Detoxify checkpoints: make run is a development tool run from
    # a checkout (never shipped in an image), so it borrows it rather than keeping a second copy.
    from tests.support.synthetic_models import build_marker_checkpoint

    directory = root / "models" / "demo"
    checkpoint = directory / "detoxify-tiny.ckpt"
    if not checkpoint.exists():
        say("building the demo toxicity model (Detoxify weights cannot be downloaded here; see README)")
        build_marker_checkpoint(directory)
    say("toxicity model: synthetic demo checkpoint (NOT real scores; set DETOXIFY_CHECKPOINT for real ones)")
    return {"DETOXIFY_CHECKPOINT": str(checkpoint), "DETOXIFY_HF_CONFIG_PATH": str(directory / "config")}


async def prepare_database_and_topics(dsn: str, bootstrap: str, prefix: str) -> None:
    from services.forum.main import MIGRATIONS as FORUM
    from services.moderation.main import MIGRATIONS as MODERATION
    from services.notifications.main import MIGRATIONS as NOTIFICATIONS

    for schema, directory in (("forum", FORUM), ("moderation", MODERATION), ("notifications", NOTIFICATIONS)):
        applied = await migrate(dsn, schema, directory)
        say(f"schema {schema}: {'applied migrations ' + str(applied) if applied else 'up to date'}")
    created = await ensure_topics(bootstrap, TopicNames(prefix))
    say(f"topics: {'created ' + str(len(created)) if created else 'all present'}")


async def seed(dsn: str, root: Path) -> list[dict[str, str]]:
    """Demo communities and one user per role; passwords kept in .haven/demo-users.json."""
    from datetime import timedelta

    from services.common.db import close_pool, create_pool
    from services.common.errors import Conflict
    from services.forum.store import ForumStore

    credentials_file = root / "demo-users.json"
    saved = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    pool = await create_pool(dsn, "forum", min_size=1, max_size=2)
    try:
        store = ForumStore(pool, refresh_ttl=timedelta(days=1))
        for slug, name, description in COMMUNITIES:
            await store.ensure_community(slug, name, description)
        users = []
        for handle, role in DEMO_USERS:
            password = saved.get(handle) or secrets.token_urlsafe(12)
            try:
                await store.create_user(handle, password, role)
            except Conflict:
                pass  # created by an earlier run with the saved password
            saved[handle] = password
            users.append({"handle": handle, "role": role, "password": password})
    finally:
        await close_pool(pool)
    credentials_file.write_text(json.dumps(saved, indent=2))
    credentials_file.chmod(0o600)
    return users


def wait_ready(name: str, port: int, child: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise HavenError(f"{name} exited with status {child.returncode}; see .haven/logs/{name}.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise HavenError(f"{name} not ready after {timeout:.0f}s; see .haven/logs/{name}.log")


def main() -> int:
    root = Path(os.environ.get("HAVEN_HOME", ".haven")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    stack = DevStack(root)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        environ = dict(os.environ)
        dsn, bootstrap = stack.start_infrastructure(environ)
        private_key, public_key = ensure_keys(root)
        model_env = ensure_model(root, environ)
        prefix = environ.get("HAVEN_TOPIC_PREFIX", "")
        asyncio.run(prepare_database_and_topics(dsn, bootstrap, prefix))
        users = asyncio.run(seed(dsn, root))
        base_env = {**environ, **model_env, "DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "TOKEN_PUBLIC_KEY_FILE": str(public_key), "TOKEN_PRIVATE_KEY_FILE": str(private_key),
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                    # the demo's webhook receivers run on this machine; production allows public hosts only
                    "WEBHOOK_ALLOWED_HOSTS": environ.get("WEBHOOK_ALLOWED_HOSTS") or "127.0.0.1,localhost"}
        from services.webclient import build_client

        web_port = int(environ.get("WEB_PORT", 8000))
        web_problem = build_client()
        if web_problem:
            say(web_problem)
        else:
            web_origins = f"http://127.0.0.1:{web_port},http://localhost:{web_port}"
            base_env["CORS_ALLOWED_ORIGINS"] = environ.get("CORS_ALLOWED_ORIGINS") or web_origins
        ports = {}
        for name, default_port in SERVICES:
            port = int(environ.get(f"{name.upper()}_PORT", default_port))
            ports[name] = port
            say(f"starting {name} on :{port} (log: .haven/logs/{name}.log)")
            env = {**base_env, "HTTP_PORT": str(port)}
            if name != "forum":
                env.pop("TOKEN_PRIVATE_KEY_FILE")  # only forum can mint tokens
            stack.start_service(name, env)
        for name, _ in SERVICES:
            wait_ready(name, ports[name], stack.children[name])
            say(f"{name} ready")
        if not web_problem:
            say(f"serving the web client on :{web_port} (log: .haven/logs/web.log)")
            stack.start_web_client(web_port, ports)
        print_banner(ports, users, dsn, bootstrap, None if web_problem else web_port)
        while True:
            for name, child in stack.children.items():
                if child.poll() is not None:
                    raise HavenError(f"{name} stopped (status {child.returncode}); see .haven/logs/{name}.log")
            time.sleep(1)
    except KeyboardInterrupt:
        say("shutting down")
        return 0
    except HavenError as e:
        print(f"haven: {e}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def print_banner(ports: dict[str, int], users: list[dict[str, str]], dsn: str, bootstrap: str,
                 web_port: int | None = None) -> None:
    print()
    say("Haven is running. Ctrl-C stops everything.")
    if web_port is not None:
        print(f"    {'web client':<14} http://127.0.0.1:{web_port}/   (sign in with a demo user below)")
    for name, port in ports.items():
        print(f"    {name:<14} http://127.0.0.1:{port}   (API doc: /openapi.yaml, health: /readyz, /metrics)")
    print(f"    PostgreSQL     {dsn}")
    print(f"    Kafka          {bootstrap}")
    print("    demo users (also in .haven/demo-users.json):")
    for user in users:
        print(f"      {user['role']:<13} {user['handle']:<14} password: {user['password']}")
    print("    try:")
    print(f"      curl -s -XPOST localhost:{ports['forum']}/v1/auth/login -d "
          f"'{{\"handle\":\"river\",\"password\":\"{users[0]['password']}\"}}'")
    print(flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
