"""What both embedded servers share: the context-manager and at-exit lifecycle, ports kept across
restarts, log tails."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from services.common.errors import ConfigError


class LocalServer:
    """A server process this interpreter started: ``with`` starts and stops it, and a process that forgot
    ``stop()`` still stops it at exit (a test must not leave a JVM or a postmaster behind)."""

    def start(self, timeout: float) -> None:
        raise NotImplementedError

    def stop(self, timeout: float) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()  # type: ignore[call-arg] - each server has its own default timeout
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()  # type: ignore[call-arg]

    def _stop_at_exit(self) -> None:
        self.stop(timeout=10.0)

    def _guard_exit(self) -> None:
        """Call once the process runs."""
        atexit.register(self._stop_at_exit)

    def _unguard_exit(self) -> None:
        """Call once the process is gone."""
        atexit.unregister(self._stop_at_exit)


def load_ports(path: Path) -> dict[str, int]:
    """Ports saved by an earlier start (``{}`` on the first start)."""
    try:
        loaded = json.loads(path.read_text())
        return {key: int(value) for key, value in loaded.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path} is unreadable ({error!r}); delete it for new ports") from error


def save_ports(path: Path, ports: Mapping[str, int]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(dict(ports), indent=2) + "\n")
    temporary.replace(path)


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct free ports: all sockets are held open until each has one."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]


def require_free_port(host: str, port: int, what: str, source: Path) -> None:
    """Fail clearly when a saved or configured port is taken by something else."""
    if not port:
        return
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves do
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"{what} {host}:{port} (kept in {source}) is in use by another process: {error.strerror}"
            ) from error


def read_from(path: Path, offset: int, limit: int = 64 * 1024) -> str:
    """What a log file gained since ``offset`` (its last ``limit`` bytes at most)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - limit))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
