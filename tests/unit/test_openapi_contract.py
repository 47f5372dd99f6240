"""Each service's openapi.yaml matches the routes its app really registers.

Pure unit test: the apps are built with ``create_app`` but never started, so
nothing connects to PostgreSQL or Kafka (``create_app`` only registers cleanup
contexts, which run on startup, and routes). The config points at addresses
that are never dialled and at a throw-away Ed25519 key pair.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from openapi_spec_validator import validate

from services.common.http.appkeys import OPENAPI_PATH
from services.common.tokens import generate_keypair
from services.forum import main as forum_main
from services.forum.config import ForumConfig
from services.moderation import main as moderation_main
from services.moderation.config import ModerationConfig
from services.notifications import main as notifications_main
from services.notifications.config import NotificationsConfig

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"

# service -> (create_app, Config.from_env)
SERVICES: dict[str, tuple[Callable[[Any], web.Application], Callable[[dict[str, str]], Any]]] = {
    "forum": (forum_main.create_app, ForumConfig.from_env),
    "moderation": (moderation_main.create_app, ModerationConfig.from_env),
    "notifications": (notifications_main.create_app, NotificationsConfig.from_env),
}

OPERATIONAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.yaml"})
PUBLIC_PATHS = OPERATIONAL_PATHS | {"/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_SCHEMA_REF = "#/components/schemas/Error"

Operation = tuple[str, str]  # (METHOD, path)


# --- fixtures and helpers ----------------------------------------------------------


@pytest.fixture(scope="module")
def environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    keys = tmp_path_factory.mktemp("keys")
    private, public = keys / "token.key", keys / "token.pub"
    generate_keypair(private, public)
    return {
        # Never dialled: nothing connects before the app starts, and it never starts here.
        "DATABASE_URL": "postgresql://haven@unused.invalid:5432/haven",
        "KAFKA_BOOTSTRAP_SERVERS": "unused.invalid:9092",
        "TOKEN_PUBLIC_KEY_FILE": str(public),
        "TOKEN_PRIVATE_KEY_FILE": str(private),
    }


def build_app(service: str, environ: dict[str, str]) -> web.Application:
    create_app, from_env = SERVICES[service]
    return create_app(from_env(environ))


def routed_operations(app: web.Application) -> set[Operation]:
    """(METHOD, path) of every route, minus the HEAD routes aiohttp adds for GET."""
    operations = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        assert route.resource is not None, f"route without a resource: {route!r}"
        operations.add((route.method.upper(), route.resource.canonical))
    return operations


def spec_path(service: str) -> Path:
    return SERVICES_DIR / service / "openapi.yaml"


def load_spec(service: str) -> dict[str, Any]:
    return yaml.safe_load(spec_path(service).read_text(encoding="utf-8"))


def operations(spec: dict[str, Any]) -> dict[Operation, dict[str, Any]]:
    return {
        (method.upper(), path): item[method]
        for path, item in (spec.get("paths") or {}).items()
        for method in HTTP_METHODS
        if method in item
    }


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (``#/a/b``) until a node without one."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        node = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"unresolvable reference {ref}"
            node = node[part]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in all_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in all_refs(value)]
    return []


def references_error_schema(spec: dict[str, Any], response: Any) -> bool:
    response = resolve(spec, response)
    schema = (response.get("content") or {}).get("application/json", {}).get("schema")
    return isinstance(schema, dict) and schema.get("$ref") == ERROR_SCHEMA_REF


params = pytest.mark.parametrize("service", sorted(SERVICES))


# --- routes <-> documented operations ----------------------------------------------


@params
def test_every_route_is_documented_and_every_operation_routed(service: str, environ: dict[str, str]) -> None:
    routed = routed_operations(build_app(service, environ))
    documented = set(operations(load_spec(service)))

    assert routed - documented == set(), f"{service}: routes missing from openapi.yaml"
    assert documented - routed == set(), f"{service}: documented operations that are not routed"


@params
def test_the_app_serves_this_document(service: str, environ: dict[str, str]) -> None:
    app = build_app(service, environ)
    assert app[OPENAPI_PATH] == spec_path(service)
    assert app[OPENAPI_PATH].is_file()


# --- the documents themselves ------------------------------------------------------


@params
def test_document_is_openapi_3_1(service: str) -> None:
    spec = load_spec(service)
    assert isinstance(spec, dict)
    assert re.fullmatch(r"3\.1\.\d+", str(spec.get("openapi"))), spec.get("openapi")
    assert spec["info"]["version"] == "1"
    assert spec["info"]["title"]
    assert spec["servers"] and all(s["url"].startswith("http") for s in spec["servers"])
    assert spec["paths"]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "JWT" in scheme["bearerFormat"]
    assert resolve(spec, {"$ref": ERROR_SCHEMA_REF})["required"] == ["error"]


@params
def test_every_reference_resolves(service: str) -> None:
    spec = load_spec(service)
    for ref in all_refs(spec):
        resolve(spec, {"$ref": ref})


@params
def test_operation_ids_are_present_and_unique(service: str) -> None:
    ops = operations(load_spec(service))
    ids = [op.get("operationId") for op in ops.values()]
    missing = [key for key, op in ops.items() if not op.get("operationId")]
    assert not missing, f"operations without operationId: {missing}"
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {sorted(i for i in ids if ids.count(i) > 1)}"


@params
def test_path_parameters_are_declared(service: str) -> None:
    spec = load_spec(service)
    for path, item in spec["paths"].items():
        templated = set(re.findall(r"{([^}]+)}", path))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            parameters = [resolve(spec, p) for p in item.get("parameters", []) + item[method].get("parameters", [])]
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == templated, f"{method.upper()} {path}: path parameters {declared} != {templated}"


@params
def test_security_requirements(service: str) -> None:
    spec = load_spec(service)
    schemes = spec["components"]["securitySchemes"]
    for (method, path), op in operations(spec).items():
        security = op.get("security", spec.get("security"))
        if path in PUBLIC_PATHS:
            assert security == [], f"{method} {path} is open: it should say security: []"
            continue
        assert security, f"{method} {path} has no security requirement"
        for requirement in security:
            assert requirement and set(requirement) <= set(schemes), f"{method} {path}: unknown scheme in {requirement}"
        assert "401" in op["responses"], f"{method} {path} needs a token, so it can answer 401"


@params
def test_errors_use_the_error_schema(service: str) -> None:
    spec = load_spec(service)
    for (method, path), op in operations(spec).items():
        client_errors = {status: r for status, r in op["responses"].items() if str(status).startswith("4")}
        if path not in OPERATIONAL_PATHS:  # liveness, readiness, metrics and the document answer no 4xx
            assert client_errors, f"{method} {path} documents no 4xx response"
        for status, response in client_errors.items():
            assert references_error_schema(spec, response), f"{method} {path} {status} does not use the Error schema"
        if "500" in op["responses"]:
            assert references_error_schema(spec, op["responses"]["500"]), f"{method} {path} 500"


@params
def test_rate_limited_and_unavailable_responses_carry_retry_after(service: str) -> None:
    spec = load_spec(service)
    for (method, path), op in operations(spec).items():
        for status in ("429", "503"):
            if status in op["responses"] and path not in ("/readyz", "/healthz"):  # probes: no client retries
                headers = resolve(spec, op["responses"][status]).get("headers", {})
                assert "Retry-After" in headers, f"{method} {path} {status} without Retry-After"


@params
def test_validates_with_openapi_spec_validator(service: str) -> None:
    validate(load_spec(service))
