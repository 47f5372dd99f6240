"""docs/architecture.md's pictures of each service's files match the tree, so the page cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
NAME = re.compile(r"\b([a-z_0-9]+(?:\.py|\.yaml|/))")
SKIP = {"__init__.py", "__main__.py", "__pycache__/"}
# The original contract lived beside the repository, where a clone does not reach (spelled in two
# pieces so this file does not match itself).
OUTSIDE = ("DESIGN" + ".md", "shared/" + "datasets")


def picture(package: str) -> set[str]:
    """The names (files, and folders with a trailing '/') in the tree block that starts ``services/<package>/``."""
    block = re.search(rf"^services/{package}/\n(.*?)(?:\n\n|\n```)", DOC, re.S | re.M)
    assert block, f"docs/architecture.md has no picture of services/{package}/"
    names = set()
    for line in block.group(1).splitlines():
        entry = line.split("├── ", 1)[-1].split("└── ", 1)[-1]
        head = re.split(r"\s{2,}", entry.strip(), maxsplit=1)[0]  # the names, before the description
        names.update(NAME.findall(head))
    return names - SKIP


def tree(package: str) -> set[str]:
    folder = ROOT / "services" / package
    return {p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
            if p.suffix in (".py", ".yaml") or (p.is_dir() and p.name + "/" not in SKIP)} - SKIP


@pytest.mark.parametrize("package", ["forum", "moderation", "notifications", "common"])
def test_every_file_in_the_picture_exists_and_every_module_is_in_it(package: str) -> None:
    drawn, present = picture(package), tree(package)
    assert drawn - present == set(), f"docs/architecture.md names files services/{package}/ lacks"
    assert present - drawn == set(), f"services/{package}/ has files docs/architecture.md does not name"


@pytest.mark.parametrize("package", ["forum", "moderation", "notifications"])
def test_every_service_has_the_one_layout(package: str) -> None:
    required = {"main.py", "appkeys.py", "config.py", "routes.py", "views.py", "store.py", "queries.py",
                "handlers.py", "migrations/", "openapi.yaml"}
    present = tree(package)
    # moderation's domain operations are the review queue and the escalation desk (review.py, escalations.py).
    if package == "moderation":
        required -= {"store.py"}
        required |= {"review.py", "escalations.py"}
    assert required <= present, f"services/{package}/ lacks {sorted(required - present)}"
    assert "events.py" in present or package == "notifications", "a service that emits events builds them in events.py"


def test_nothing_points_outside_the_repository() -> None:
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("services/**/*.py"),
                 *ROOT.glob("services/**/*.yaml"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.md")]:
        text = path.read_text(encoding="utf-8")
        for outside in OUTSIDE:
            assert outside not in text, f"{path.relative_to(ROOT)} points outside the repository ({outside})"
