"""deploy/Dockerfile, read (no Docker engine here): multi-stage, slim, non-root, CPU torch, bake arg.

What it copies exists and is let through its .dockerignore; the modules it
runs exist; the bake step's options are the ones ``services.ops.bake_detoxify``
accepts; the environment it sets is read by the code.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache

from services.ops.bake_detoxify import CHECKPOINT_NAME, CONFIG_DIR_NAME, build_parser
from tests.deploy.inventory import DEPLOY, LIBRARY_ENV, ROOT, env_names_read_by_code, module_exists, pyproject

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@cache
def parsed() -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else ""))
        elif not stages:
            if keyword == "ARG":
                name, _, default = args.partition("=")
                global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def test_multi_stage_with_a_slim_python_runtime_of_the_projects_version() -> None:
    global_args, stages = parsed()
    assert len(stages) >= 2
    assert [s.name for s in stages] == ["build", "weights", "runtime"]
    python = global_args["PYTHON_IMAGE"]
    major_minor = re.search(r">=(\d+\.\d+)", pyproject()["project"]["requires-python"]).group(1)
    assert re.fullmatch(rf"python:{re.escape(major_minor)}(\.\d+)?-slim(-[a-z]+)?", python), python
    assert stages[-1].base == "${PYTHON_IMAGE}" and stages[0].base == "${PYTHON_IMAGE}"


def test_runtime_runs_as_a_non_root_user_and_carries_no_build_tools() -> None:
    runtime = parsed()[1][-1]
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert "useradd" in " ".join(runtime.all("RUN")) and user.split(":")[0] in " ".join(runtime.all("RUN"))
    runs = " ".join(runtime.all("RUN"))
    assert "pip install" not in runs and "apt-get" not in runs, "the runtime only copies the built virtualenv"
    assert any(c.startswith("--from=build /opt/venv") for c in runtime.all("COPY"))


def test_torch_is_the_cpu_build_from_pytorchs_index() -> None:
    build = parsed()[1][0]
    (index,) = [a for a in build.all("ARG") if a.startswith("TORCH_INDEX_URL=")]
    assert index == "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu"
    install = " ".join(build.all("RUN"))
    assert '--index-url "${TORCH_INDEX_URL}"' in install and "^torch==" in install
    assert any(d.startswith("torch==") for d in pyproject()["project"]["dependencies"])


def test_detoxify_weights_can_be_baked_at_build_time() -> None:
    _, stages = parsed()
    weights = next(s for s in stages if s.name == "weights")
    assert "DETOXIFY_BAKE_MODEL=\"\"" in weights.all("ARG")
    (bake,) = [r for r in weights.all("RUN") if "services.ops.bake_detoxify" in r]
    command = shlex.split(bake[bake.index("python -m services.ops.bake_detoxify"):].split("&&")[0])
    assert module_exists(command[2])
    options = build_parser().parse_args(
        [a.replace("${DETOXIFY_BAKE_MODEL}", "original") for a in command[3:]])
    assert options.model == "original" and str(options.out) == "/opt/haven/models/detoxify"
    runtime = stages[-1]
    env = " ".join(runtime.all("ENV"))
    assert f"/opt/haven/models/detoxify/{CHECKPOINT_NAME}" in env
    assert f"/opt/haven/models/detoxify/{CONFIG_DIR_NAME}" in env
    assert any(c.startswith("--from=weights /opt/haven/models") for c in runtime.all("COPY"))


def test_what_it_copies_exists_and_passes_the_dockerignore() -> None:
    lines = DOCKERIGNORE.read_text().splitlines()
    assert "**" in lines, "an allow-list: everything is excluded, then what the image needs let through"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    for stage in parsed()[1]:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source.rstrip("/") in allowed, f"COPY {source}: excluded by {DOCKERIGNORE.name}"


def test_environment_and_command_are_read_by_the_code() -> None:
    runtime = parsed()[1][-1]
    names = set()
    for env in runtime.all("ENV"):
        names.update(re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", env))
    unknown = names - env_names_read_by_code() - set(LIBRARY_ENV) - {"PATH", "PYTHONUNBUFFERED",
                                                                      "PYTHONDONTWRITEBYTECODE"}
    assert not unknown, f"the image sets {sorted(unknown)}, which no code reads"
    (cmd,) = runtime.all("CMD")
    assert module_exists(shlex.split(cmd.strip("[]").replace('"', "").replace(",", " "))[2])
