"""A real single-node Apache Kafka broker (KRaft, combined broker+controller).

Why a real broker: the services rely on idempotent producers, consumer groups
and offset commits, which no in-process fake reproduces faithfully.

Why Maven: Apache ships Kafka as a tarball on mirrors that need not be
reachable, but every jar is on Maven Central; ``deploy/kafka/pom.xml`` names
them and :func:`ensure_kafka_libs` copies them once into a cache outside the
repository. :class:`EmbeddedKafka` then runs ``kafka.Kafka`` from that
classpath in its own session, with its data, ports and logs under one
directory, so that ``make run`` can stop and start it and find its topics and
offsets again.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import re
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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

logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
MIN_JAVA_VERSION = 17
_KAFKA_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"
_NODE_ID = 1
_MAVEN_TIMEOUT_S = 900.0


# --------------------------------------------------------------------------- prerequisites


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """Where downloaded runtimes live: ``$HAVEN_CACHE_DIR`` or ``~/.cache/haven``.

    Outside the repository so that ``git clean`` and fresh worktrees do not
    download 43 MB again. The environment is passed in, not read here.
    """
    configured = environ.get("HAVEN_CACHE_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "haven"


def default_pom() -> Path:
    """The ``deploy/kafka/pom.xml`` of this source checkout."""
    return Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "pom.xml"


def parse_java_major(version_output: str) -> int | None:
    """The major version in ``java -version`` output ("1.8.0_x" is 8, "17.0.2" is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> str:
    """Path of a ``java`` that can run Kafka 4 (17+), else a one-line ConfigError."""
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            f"Java {MIN_JAVA_VERSION} is required to run the embedded Kafka broker: "
            "`java` not found on PATH"
        )
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stderr + result.stdout
    major = parse_java_major(output)
    if major is None:
        first_line = output.strip().splitlines()[0] if output.strip() else "no output"
        raise ConfigError(
            f"could not tell the version of {java} from `java -version`: {first_line}"
        )
    if major < MIN_JAVA_VERSION:
        raise ConfigError(
            f"Java {MIN_JAVA_VERSION} or newer is required to run the embedded Kafka broker: "
            f"{java} is Java {major}"
        )
    return java


def _require_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            f"Maven is required to fetch Apache Kafka {KAFKA_VERSION} on first run: "
            "`mvn` not found on PATH"
        )
    return mvn


# --------------------------------------------------------------------------- jars


def ensure_kafka_libs(cache_dir: Path, pom: Path, progress: Callable[[str], None]) -> Path:
    """Return ``<cache_dir>/kafka-4.4.0/libs``, fetching the jars with Maven if needed.

    A marker holding the POM's hash and the jar count is written only after
    a complete download, so an interrupted one, a hand-deleted jar or an
    edited POM is fetched again. A file lock keeps two processes (parallel
    test runs, several services) from downloading into the same place.
    """
    root = cache_dir / f"kafka-{KAFKA_VERSION}"
    libs = root / "libs"
    try:
        pom_digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    except OSError as error:
        raise ConfigError(f"cannot read the Kafka POM {pom}: {error.strerror}") from error
    if _libs_complete(libs, root / ".complete", pom_digest):
        return libs
    require_java()
    mvn = _require_maven()
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".lock"):
        if not _libs_complete(libs, root / ".complete", pom_digest):
            progress(
                f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central "
                "(first run only, ~43 MB)..."
            )
            _download_libs(mvn, pom, root, pom_digest)
            progress(f"Apache Kafka {KAFKA_VERSION}: {_describe_jars(libs)} in {libs}")
    return libs


def _libs_complete(libs: Path, marker: Path, pom_digest: str) -> bool:
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    jars = list(libs.glob("*.jar")) if libs.is_dir() else []
    return (
        recorded.get("pom_sha256") == pom_digest
        and recorded.get("jars") == len(jars)
        and (libs / _KAFKA_JAR).is_file()
    )


def _download_libs(mvn: str, pom: Path, root: Path, pom_digest: str) -> None:
    """Copy the jars into ``libs.partial`` first; only a finished set becomes ``libs``."""
    marker, libs, partial = root / ".complete", root / "libs", root / "libs.partial"
    marker.unlink(missing_ok=True)
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={partial}",
    ]  # fmt: skip
    logger.info("running %s", " ".join(command))
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=_MAVEN_TIMEOUT_S, check=False,
    )  # fmt: skip
    if result.returncode != 0 or not (partial / _KAFKA_JAR).is_file():
        raise InfrastructureError(
            f"Maven could not fetch Apache Kafka {KAFKA_VERSION} (exit {result.returncode}); "
            f"is Maven Central reachable?\n{tail(result.stdout + result.stderr)}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    jar_count = len(list(libs.glob("*.jar")))
    marker.write_text(json.dumps({"pom_sha256": pom_digest, "jars": jar_count}))


def _describe_jars(libs: Path) -> str:
    jars = list(libs.glob("*.jar"))
    mebibytes = sum(jar.stat().st_size for jar in jars) / 2**20
    return f"{len(jars)} jars, {mebibytes:.0f} MB"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- broker


@dataclass
class EmbeddedKafka(LocalServer):
    """One KRaft node (broker and controller in one JVM) keeping everything in ``data_dir``.

    Port 0 means "pick a free one on first start"; the choice is saved in
    ``data_dir/embedded-kafka.json`` and reused afterwards, because
    ``kafka-storage format --standalone`` records the controller endpoint in
    the metadata log and clients of a restarted ``make run`` expect the same
    bootstrap address.
    """

    data_dir: Path
    libs_dir: Path
    port: int = 0
    controller_port: int = 0
    heap_mb: int = 256
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        # Absolute, because the JVM runs with data_dir as its working directory.
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.libs_dir = Path(self.libs_dir).expanduser().resolve()

    # ----------------------------------------------------------------- public API

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients; the port is known once :meth:`start` has run."""
        if not self.port:
            raise RuntimeError("EmbeddedKafka has no port yet: call start() first")
        return f"{self.host}:{self.port}"

    def is_running(self) -> bool:
        """Whether the broker process this object started is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        """Start the broker and return once it answers a Metadata request listing itself.

        The generous default covers a restart after a crash: the controller
        then waits for the dead incarnation's session to expire and the log
        is recovered.
        """
        if self.is_running():
            return
        java = require_java()
        self._check_libs()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        self._resolve_ports()
        self._write_configs()
        if not self._formatted():
            self._format_storage(java)
        self._launch(java)
        self._wait_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL after ``timeout``; idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("Kafka broker ignored SIGTERM for %.0fs; killing it", timeout)
                proc.kill()
                proc.wait()
            logger.info("Kafka broker pid %d stopped", proc.pid)
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL the broker and wait for it: what tests use to simulate a crash."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._forget_process()

    # ----------------------------------------------------------------- layout

    @property
    def _ports_file(self) -> Path:
        return self.data_dir / "embedded-kafka.json"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def _properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _log4j_file(self) -> Path:
        return self.data_dir / "log4j2.xml"

    @property
    def _log_dir(self) -> Path:
        return self.data_dir / "kraft-combined-logs"

    @property
    def _logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def _log_file(self) -> Path:
        return self._logs_dir / "kafka.log"

    def _classpath(self) -> str:
        return str(self.libs_dir / "*")

    # ----------------------------------------------------------------- start steps

    def _check_libs(self) -> None:
        if not (self.libs_dir / _KAFKA_JAR).is_file():
            raise ConfigError(
                f"{_KAFKA_JAR} not found in {self.libs_dir}: call ensure_kafka_libs() first"
            )

    def _stop_orphan(self) -> None:
        """Stop a broker of this data_dir whose parent died without calling stop().

        It runs in its own session, so it outlives a killed ``make run`` and
        would hold the ports and the log directory lock forever.
        """
        proc = _process_from_pid_file(self._pid_file)
        if proc is None or not _is_our_broker(proc, self._properties_file):
            self._pid_file.unlink(missing_ok=True)
            return
        logger.warning("stopping Kafka broker pid %d left running by an earlier run", proc.pid)
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            try:
                proc.wait(30)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        self._pid_file.unlink(missing_ok=True)

    def _resolve_ports(self) -> None:
        """Reuse saved ports, pick free ones for the rest, and save the result."""
        saved = load_ports(self._ports_file)
        self._check_controller_port(saved.get("controller_port", 0))
        self.port = self.port or saved.get("port", 0)
        self.controller_port = self.controller_port or saved.get("controller_port", 0)
        for name in ("port", "controller_port"):
            require_free_port(self.host, getattr(self, name), f"Kafka {name}", self._ports_file)
        missing = [name for name in ("port", "controller_port") if not getattr(self, name)]
        for name, port in zip(missing, free_ports(self.host, len(missing)), strict=True):
            setattr(self, name, port)
        save_ports(self._ports_file, {"port": self.port, "controller_port": self.controller_port})

    def _check_controller_port(self, saved: int) -> None:
        """Refuse to move a formatted node's controller: the metadata log names its endpoint."""
        if self._formatted() and saved and self.controller_port not in (0, saved):
            raise ConfigError(
                f"{self.data_dir} was formatted for controller port {saved}, "
                f"not {self.controller_port}: KRaft stores it; delete the directory to change it"
            )

    def _write_configs(self) -> None:
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        self._properties_file.write_text(self._server_properties())
        self._log4j_file.write_text(_LOG4J2_XML)

    def _server_properties(self) -> str:
        """Broker settings: one node, replication factor 1 everywhere, small and quick."""
        plaintext, controller = f"{self.host}:{self.port}", f"{self.host}:{self.controller_port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(_NODE_ID),
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{plaintext},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{plaintext}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._log_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.leader.rebalance.enable": "false",
            # After a crash the controller refuses the new incarnation until the
            # old one's session expires (9 s by default): keep restarts short.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            # The log cleaner allocates this on the heap up front (128 MB by default).
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _formatted(self) -> bool:
        return (self._log_dir / "meta.properties").is_file()

    def _format_storage(self, java: str) -> None:
        """``kafka-storage format --standalone``: a fresh cluster id and voter set, once."""
        command = [
            java, f"-Xmx{self.heap_mb}m", f"-Dlog4j2.configurationFile={self._log4j_file}",
            "-cp", self._classpath(), "kafka.tools.StorageTool", "format", "--standalone",
            "-t", _random_cluster_id(), "-c", str(self._properties_file),
        ]  # fmt: skip
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            cwd=self.data_dir, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfrastructureError(
                f"formatting Kafka storage in {self._log_dir} failed (exit {result.returncode}):\n"
                f"{tail(result.stdout + result.stderr)}"
            )
        logger.info("formatted Kafka storage in %s", self._log_dir)

    def _launch(self, java: str) -> None:
        """Start the JVM in its own session with output to a file.

        Its own session keeps the terminal's Ctrl-C away from it, so the
        parent decides when and how it stops.
        """
        self._log_offset = self._log_file.stat().st_size if self._log_file.exists() else 0
        with open(self._log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [java, *self._jvm_options(), "-cp", self._classpath(), "kafka.Kafka",
                 str(self._properties_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.data_dir, start_new_session=True,
            )  # fmt: skip
        self._pid_file.write_text(f"{self._proc.pid}\n")
        self._guard_exit()
        logger.info("started Kafka broker pid %d on %s", self._proc.pid, self.bootstrap_servers)

    def _jvm_options(self) -> list[str]:
        """A small, fast-starting JVM: fixed heap, C1 only, serial GC, die on OOM."""
        return [
            f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
            "-XX:-UsePerfData", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self._logs_dir}",
            f"-Dlog4j2.configurationFile={self._log4j_file}",
            "-Dlog4j2.shutdownHookEnabled=false",
        ]  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        """Probe until ready; fail fast if the JVM exits, kill it at the deadline."""
        deadline = time.monotonic() + timeout
        while not _broker_ready(self.host, self.port, _probe_timeout(deadline)):
            if self._exited_within(0.2):
                code = self._returncode()
                raise InfrastructureError(self._failure(f"exited with code {code} during start"))
            if time.monotonic() >= deadline:
                self.kill()
                raise InfrastructureError(self._failure(f"was not ready within {timeout:.0f}s"))
        logger.info("Kafka broker ready on %s", self.bootstrap_servers)

    # ----------------------------------------------------------------- helpers

    def _exited_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the process to exit: the poll interval of start()."""
        assert self._proc is not None
        try:
            self._proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _returncode(self) -> int:
        assert self._proc is not None and self._proc.returncode is not None
        return self._proc.returncode

    def _failure(self, what: str) -> str:
        last_lines = tail(read_from(self._log_file, self._log_offset))
        if self._proc is not None and self._proc.poll() is not None:
            self._forget_process()
        return f"Kafka broker in {self.data_dir} {what}; last lines of {self._log_file}:\n{last_lines}"

    def _forget_process(self) -> None:
        self._proc = None
        self._pid_file.unlink(missing_ok=True)
        self._unguard_exit()


_LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by services.common.embedded.kafka: warnings and errors only. -->
<Configuration status="warn">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


# --------------------------------------------------------------------------- protocol probe


def _broker_ready(host: str, port: int, timeout: float) -> bool:
    """Whether the broker answers Metadata v1 listing itself, i.e. it is registered and unfenced.

    An open port is not enough: the socket is bound before the broker has
    caught up with the metadata log and before the controller unfences it.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_metadata_request(correlation_id=1))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            brokers, controller_id = _parse_metadata_v1(_recv_exact(sock, size))
    except (OSError, struct.error):
        return False
    return _NODE_ID in brokers and controller_id >= 0


def _metadata_request(correlation_id: int) -> bytes:
    """MetadataRequest v1 for no topics (an empty array; -1 would mean all topics)."""
    client_id = b"haven-embedded-probe"
    header = struct.pack(">hhih", 3, 1, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i", 0)
    return struct.pack(">i", len(header) + len(body)) + header + body


def _parse_metadata_v1(payload: bytes) -> tuple[list[int], int]:
    """Broker node ids and controller id from a MetadataResponse v1 (after the size)."""
    offset = 4  # correlation id
    (count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    node_ids: list[int] = []
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", payload, offset)
        offset = _skip_string(payload, offset + 4)  # host
        offset = _skip_string(payload, offset + 4)  # port, then nullable rack
        node_ids.append(node_id)
    controller_id: int = struct.unpack_from(">i", payload, offset)[0]
    return node_ids, controller_id


def _skip_string(payload: bytes, offset: int) -> int:
    length: int = struct.unpack_from(">h", payload, offset)[0]
    return offset + 2 + max(length, 0)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        data += chunk
    return bytes(data)


# --------------------------------------------------------------------------- small helpers


def _random_cluster_id() -> str:
    """A Kafka Uuid string: 16 random bytes, base64url without padding, never starting "-"."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # the CLI would read it as an option
            return cluster_id










def _process_from_pid_file(path: Path) -> psutil.Process | None:
    try:
        return psutil.Process(int(path.read_text().strip()))
    except (OSError, ValueError, psutil.Error):
        return None


def _is_our_broker(proc: psutil.Process, properties_file: Path) -> bool:
    try:
        command_line = proc.cmdline()
    except psutil.Error:
        return False
    return "kafka.Kafka" in command_line and str(properties_file) in command_line




def _probe_timeout(deadline: float) -> float:
    """Socket timeout of one readiness probe: at most 2 s, never past the deadline (nearly)."""
    return min(2.0, max(0.1, deadline - time.monotonic()))

