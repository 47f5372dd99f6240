"""deploy/k8s: the manifests parse, pass the Kubernetes schemas, and point at real things.

Images are the one deploy/Dockerfile builds, commands are modules that exist,
container ports are the ports the services listen on, probes hit routes the
apps serve, Services and budgets select the Deployments' pods, config and
secret references resolve, and the autoscaler stops at the partition count.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common.http.app import new_app
from services.common.tokens import TokenVerifier, generate_keypair
from services.common.topics import FORUM_POSTS, partitions
from tests.deploy.inventory import (
    DEPLOY,
    LIBRARY_ENV,
    SERVICES,
    consumer_names,
    default_port,
    env_names_read_by_code,
    image_name,
    module_exists,
    run_module,
)

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.33.0"
NOT_MANIFESTS = {"kustomization.yaml", "prometheus-adapter-rules.yaml"}


@cache
def manifests() -> tuple[tuple[str, dict[str, Any]], ...]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name in NOT_MANIFESTS:
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((path.name, document))
    return tuple(found)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def pod_specs() -> dict[str, dict[str, Any]]:
    specs = {name: d["spec"]["template"]["spec"] for name, d in of_kind("Deployment").items()}
    specs.update({name: j["spec"]["template"]["spec"] for name, j in of_kind("Job").items()})
    return specs


def test_kustomization_lists_every_manifest_and_the_image() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - NOT_MANIFESTS
    assert listed == present
    name, tag = image_name().split(":")
    assert kustomization["images"] == [{"name": name, "newName": name, "newTag": tag}]


@pytest.mark.parametrize("index", range(len(manifests())))
def test_manifest_is_valid_for_kubernetes(index: int) -> None:
    file, document = manifests()[index]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{file} {document['kind']}/{document['metadata']['name']}: {e.message} at {list(e.path)}")


def test_the_expected_objects_exist() -> None:
    assert set(of_kind("Deployment")) == set(SERVICES)
    assert set(of_kind("Service")) == set(SERVICES)
    assert set(of_kind("Job")) == {"haven-init"}
    assert set(of_kind("HorizontalPodAutoscaler")) == {"moderation"}
    assert of_kind("PodDisruptionBudget"), "a PodDisruptionBudget"
    assert of_kind("Deployment")["forum"]["spec"]["replicas"] >= 2


def test_images_and_commands_are_real() -> None:
    for name, spec in pod_specs().items():
        for container in spec["containers"]:
            assert container["image"] == image_name(), f"{name} runs {container['image']}"
            module = run_module(container["command"])
            assert module_exists(module)
            assert module == ("services.ops.init" if name == "haven-init" else f"services.{name}")


def test_ports_are_the_ports_the_services_listen_on() -> None:
    for name, spec in pod_specs().items():
        if name == "haven-init":
            continue
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert container["ports"] == [{"name": "http", "containerPort": default_port(name)}]
        assert env["HTTP_PORT"] == str(default_port(name))
        service = of_kind("Service")[name]
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        annotations = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(default_port(name))
        assert annotations["prometheus.io/path"] == "/metrics"


def test_probes_hit_routes_the_apps_serve(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    app = new_app(service="probe", openapi=tmp_path / "none.yaml", verifier=TokenVerifier.from_file(tmp_path / "k.pub.pem"))
    served = {r.canonical for r in app.router.resources()}
    assert {"/healthz", "/readyz", "/metrics"} <= served
    for name, spec in pod_specs().items():
        if name == "haven-init":
            continue
        container = spec["containers"][0]
        port_names = {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] in served and get["port"] in port_names, f"{name} {probe}"


def test_selectors_match_the_pods() -> None:
    deployments = of_kind("Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert of_kind("Service")[name]["spec"]["selector"].items() <= labels.items()
    for name, budget in of_kind("PodDisruptionBudget").items():
        selected = [d for d, dep in deployments.items() if budget["spec"]["selector"]["matchLabels"].items()
                    <= dep["spec"]["template"]["metadata"]["labels"].items()]
        assert selected == [name]
        assert budget["spec"]["minAvailable"] < deployments[name]["spec"]["replicas"], "a budget that allows a drain"


def test_autoscaler_keys_on_moderation_lag_and_stops_at_the_partitions() -> None:
    hpa = of_kind("HorizontalPodAutoscaler")["moderation"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "moderation"}
    assert hpa["maxReplicas"] == partitions()[FORUM_POSTS], "more consumers than partitions sit idle"
    (metric,) = hpa["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "haven_consumer_lag"
    assert metric["external"]["metric"]["selector"]["matchLabels"]["consumer"] in consumer_names()
    rules = yaml.safe_load((K8S / "prometheus-adapter-rules.yaml").read_text())["rules"]["external"]
    assert [r["name"]["as"] for r in rules] == ["haven_consumer_lag"]


def test_config_and_secret_references_resolve() -> None:
    config = of_kind("ConfigMap")["haven-config"]["data"]
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    known = env_names_read_by_code() | set(LIBRARY_ENV)
    assert set(config) <= known, f"haven-config sets {sorted(set(config) - known)}, which no code reads"
    for name, spec in pod_specs().items():
        for container in spec["containers"]:
            for ref in container.get("envFrom", []):
                assert ref["configMapRef"]["name"] == "haven-config"
            for env in container.get("env", []):
                assert env["name"] in known, f"{name} sets {env['name']}, which no code reads"
                source = env.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    assert source["configMapKeyRef"]["key"] in config
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    assert re.search(rf"secret generic {ref['name']}\b", readme), f"README creates no {ref['name']}"
                    assert f"--from-literal={ref['key']}=" in readme, f"README puts no {ref['key']} in {ref['name']}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert f"secret generic {volume['secret']['secretName']}" in readme
                for item in volume["secret"]["items"]:
                    assert f"--from-file={item['key']}=" in readme


def test_only_forum_gets_the_private_key_and_every_pod_is_locked_down() -> None:
    for name, spec in pod_specs().items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"], name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert {"memory", "cpu"} <= set(container["resources"]["limits"]), name
        keys = [v for v in spec.get("volumes", []) if v.get("secret", {}).get("secretName") == "haven-token-keys"]
        private = any(i["key"] == "token-ed25519.pem" for v in keys for i in v["secret"]["items"])
        assert private == (name == "forum"), f"{name}: only forum may hold the private key"
