"""A KRaft cluster of N real Apache Kafka nodes for fault-injection tests.

``services.common.embedded.kafka.EmbeddedKafka`` is one combined node formatted
``--standalone``; a multi-node quorum needs every node to know every voter, so this
module builds its own nodes (same jars, same JVM options, same log4j settings),
with static ``controller.quorum.voters``. Each node is broker and controller in one
JVM, so SIGKILLing one also takes out a controller: with three voters the quorum
survives it.

A node may also carry one extra listener, ``PROXIED``, whose *advertised* address is
a port the test owns (a TCP proxy in front of the node's real listener): clients
bootstrapped through the proxy are told to keep talking through it, so cutting the
proxy really cuts them off, while the test itself (and other services) use the
direct ``PLAINTEXT`` listener.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.common.embedded._local import free_ports, read_from, tail
from services.common.embedded.kafka import (
    _LOG4J2_XML,
    _metadata_request,
    _parse_metadata_v1,
    _random_cluster_id,
    _recv_exact,
    require_java,
)

HOST = "127.0.0.1"


def _ready(port: int, node_id: int, want_brokers: int, timeout: float) -> bool:
    """The node answers Metadata listing itself, ``want_brokers`` brokers in all, and a controller."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(_metadata_request(correlation_id=1))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            brokers, controller_id = _parse_metadata_v1(_recv_exact(sock, size))
    except (OSError, struct.error):
        return False
    return node_id in brokers and len(brokers) >= want_brokers and controller_id >= 0


@dataclass
class KafkaNode:
    node_id: int
    data_dir: Path
    port: int
    controller_port: int
    proxied_port: int = 0  # the node's real PROXIED listener (0: none)
    advertised_proxy_port: int = 0  # what PROXIED advertises: the proxy in front of proxied_port
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class KafkaCluster:
    """``size`` combined KRaft nodes in ``root``; start/kill/restart single nodes by id."""

    def __init__(self, root: Path, libs: Path, size: int = 3, *, proxied: bool = False, heap_mb: int = 256,
                 advertised_proxy_port: int | dict[int, int] = 0) -> None:
        """``advertised_proxy_port``: the proxy in front of every node's PROXIED listener (one port, or one per node id)."""
        self.root = Path(root).resolve()
        self.libs = Path(libs).resolve()
        self.size = size
        self.heap_mb = heap_mb
        self.cluster_id = _random_cluster_id()
        ports = free_ports(HOST, size * (3 if proxied else 2))
        self.nodes: dict[int, KafkaNode] = {}
        for index in range(size):
            node_id = index + 1
            base = ports[index * (3 if proxied else 2):]
            self.nodes[node_id] = KafkaNode(
                node_id, self.root / f"node{node_id}", base[0], base[1],
                proxied_port=base[2] if proxied else 0,
                advertised_proxy_port=(advertised_proxy_port.get(node_id, 0) if isinstance(advertised_proxy_port, dict)
                                       else advertised_proxy_port) if proxied else 0)

    # ----------------------------------------------------------------- addresses

    @property
    def bootstrap_servers(self) -> str:
        """The direct listeners of every node."""
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes.values())

    def bootstrap_servers_without(self, node_id: int) -> str:
        """The direct listeners of every node but ``node_id`` (a dead node makes clients wait on it)."""
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes.values() if n.node_id != node_id)

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 150.0) -> None:
        java = require_java()
        for node in self.nodes.values():
            self._prepare(java, node)
        for node in self.nodes.values():
            self._launch(java, node)
        self._wait(list(self.nodes.values()), timeout)

    def kill(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()
        node.proc = None

    def restart(self, node_id: int, timeout: float = 150.0) -> None:
        node = self.nodes[node_id]
        self._launch(require_java(), node)
        self._wait([node], timeout)

    def stop(self) -> None:
        """SIGTERM every node, SIGKILL what is left after a while; idempotent."""
        running = [n for n in self.nodes.values() if n.running()]
        for node in running:
            node.proc.terminate()
        deadline = time.monotonic() + 20
        for node in running:
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
            node.proc = None

    def __enter__(self) -> KafkaCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- steps

    def _properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes.values())
        replication = str(min(3, self.size))
        insync = str(min(2, self.size))
        listeners = [f"PLAINTEXT://{HOST}:{node.port}", f"CONTROLLER://{HOST}:{node.controller_port}"]
        advertised = [f"PLAINTEXT://{HOST}:{node.port}"]
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if node.proxied_port:
            listeners.append(f"PROXIED://{HOST}:{node.proxied_port}")
            advertised.append(f"PROXIED://{HOST}:{node.advertised_proxy_port}")
            protocols += ",PROXIED:PLAINTEXT"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": protocols,
            "log.dirs": str(node.data_dir / "data"),
            "num.partitions": "1",
            "default.replication.factor": replication,
            "min.insync.replicas": insync,
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": insync,
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": insync,
            "group.initial.rebalance.delay.ms": "0",
            "auto.leader.rebalance.enable": "false",
            "unclean.leader.election.enable": "false",
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            "replica.lag.time.max.ms": "5000",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.replica.fetchers": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _prepare(self, java: str, node: KafkaNode) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        (node.data_dir / "server.properties").write_text(self._properties(node))
        (node.data_dir / "log4j2.xml").write_text(_LOG4J2_XML)
        result = subprocess.run(
            [java, f"-Xmx{self.heap_mb}m", f"-Dlog4j2.configurationFile={node.data_dir / 'log4j2.xml'}",
             "-cp", str(self.libs / "*"), "kafka.tools.StorageTool", "format",
             "-t", self.cluster_id, "-c", str(node.data_dir / "server.properties")],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=node.data_dir, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"formatting Kafka node {node.node_id} failed:\n{tail(result.stdout + result.stderr)}")

    def _launch(self, java: str, node: KafkaNode) -> None:
        with open(node.log_file, "ab") as log:
            node.proc = subprocess.Popen(
                [java, f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC",
                 "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData",
                 "-Djava.awt.headless=true", f"-Dkafka.logs.dir={node.data_dir}",
                 f"-Dlog4j2.configurationFile={node.data_dir / 'log4j2.xml'}", "-Dlog4j2.shutdownHookEnabled=false",
                 "-cp", str(self.libs / "*"), "kafka.Kafka", str(node.data_dir / "server.properties")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=node.data_dir,
                start_new_session=True)

    def _wait(self, nodes: list[KafkaNode], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending:
            for node in list(pending):
                if node.proc is None or node.proc.poll() is not None:
                    raise RuntimeError(f"Kafka node {node.node_id} exited during start:\n"
                                       f"{tail(read_from(node.log_file, 0))}")
                if _ready(node.port, node.node_id, self.size, 1.0):
                    pending.remove(node)
            if pending:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kafka nodes {[n.node_id for n in pending]} not ready in {timeout:.0f}s:\n"
                                       + "\n".join(tail(read_from(n.log_file, 0)) for n in pending))
                time.sleep(0.3)


@contextlib.contextmanager
def running_cluster(root: Path, libs: Path, size: int = 3, **options):
    cluster = KafkaCluster(root, libs, size, **options)
    with cluster:
        yield cluster
