"""What the code really has, for checking the deployment files against it.

Everything here is read from the source tree or the installed package, never
written down a second time: the environment variables the services read (the
``EnvReader`` calls in their config modules), the ports they default to, their
HTTP routes (each ``openapi.yaml``), the consumer group names, the pinned
versions of Kafka and PostgreSQL the embedded set-up uses.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from functools import cache
from pathlib import Path

import yaml

from services.ops.roles import PASSWORD_ENV

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("forum", "moderation", "notifications")

# Read by libraries, not by our config modules, and set on purpose by the deployment files.
LIBRARY_ENV = {
    "HF_HUB_OFFLINE": "huggingface_hub: never try the network",
    "TRANSFORMERS_OFFLINE": "transformers: never try the network",
    "HF_HOME": "huggingface_hub cache, on the writable /tmp",
    "TORCH_HOME": "torch.hub cache, on the writable /tmp",
    "HOME": "a writable home for libraries that want one (the image's user has none)",
}

_ENV_READ = re.compile(r'env\.(?:text|optional|integer|number|choice|existing_file|origins)\(\s*"([A-Z0-9_]+)"')


@cache
def env_names_read_by_code() -> frozenset[str]:
    """Every variable a config module reads through ``EnvReader``, plus the init job's role passwords."""
    names = set()
    for path in (ROOT / "services").rglob("*.py"):
        names.update(_ENV_READ.findall(path.read_text(encoding="utf-8")))
    return frozenset(names | set(PASSWORD_ENV.values()))


def default_port(service: str) -> int:
    match = re.search(r"default_port=(\d+)", (ROOT / "services" / service / "config.py").read_text())
    assert match, f"services/{service}/config.py names no default_port"
    return int(match.group(1))


def module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def run_module(command: list[str]) -> str:
    """``["python", "-m", "services.forum"]`` ⇒ ``services.forum`` (asserting that shape)."""
    assert command[:2] == ["python", "-m"] and len(command) == 3, f"unexpected command {command}"
    return command[2]


_ROUTE = re.compile(r'add_(?:get|post|put|patch|delete|route)\(\s*(?:"[A-Z]+",\s*)?"(/v1/[^"]*)"')


@cache
def api_path_prefixes(service: str) -> frozenset[str]:
    """``/v1/<first segment>`` of every path the service routes (its code) or documents (its openapi.yaml)."""
    document = yaml.safe_load((ROOT / "services" / service / "openapi.yaml").read_text(encoding="utf-8"))
    paths = {p for p in document["paths"] if p.startswith("/v1/")}
    for path in (ROOT / "services" / service).glob("*.py"):
        paths.update(_ROUTE.findall(path.read_text(encoding="utf-8")))
    return frozenset("/" + "/".join(p.strip("/").split("/")[:2]) for p in paths)


@cache
def consumer_names() -> frozenset[str]:
    """The consumer group names the services run (``consumer_ctx(..., group="...")`` in each ``main.py``)."""
    names = set()
    for service in SERVICES:
        names.update(re.findall(r'group="([a-z-]+)"', (ROOT / "services" / service / "main.py").read_text()))
    return frozenset(names)


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def project_version() -> str:
    return pyproject()["project"]["version"]


def pinned(package: str) -> str:
    for requirement in pyproject()["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        if name.strip().lower() == package.lower():
            return version.strip()
    raise AssertionError(f"{package} is not pinned in pyproject.toml")


def image_name() -> str:
    """The image deploy/Dockerfile builds, as the deployment files name it."""
    return f"haven:{project_version()}"
