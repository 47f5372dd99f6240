"""Migration discovery: numbered files, ordered across folders; shipped folders discover cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.migrations import COMMON_MIGRATIONS, discover

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICE_MIGRATION_DIRS = sorted(SERVICES_DIR.glob("*/migrations"))


def make(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("SELECT 1;\n")
    return directory


def test_orders_by_number_across_directories(tmp_path):
    a = make(tmp_path / "a", "003_third.sql", "001_first.sql", "020_twentieth.sql")
    b = make(tmp_path / "b", "010_tenth.sql", "002_second.sql")
    found = discover(a, b)
    assert [(m.version, m.name) for m in found] == [
        (1, "first"), (2, "second"), (3, "third"), (10, "tenth"), (20, "twentieth")]
    assert found[1].path == b / "002_second.sql"


def test_orders_numerically_not_by_file_name(tmp_path):
    d = make(tmp_path, "1000_late.sql", "200_early.sql", "0150_middle.sql")
    assert [m.version for m in discover(d)] == [150, 200, 1000]


def test_ignores_files_that_are_not_sql(tmp_path):
    d = make(tmp_path, "001_init.sql", "README.md", "002_notes.txt")
    assert [m.version for m in discover(d)] == [1]


def test_an_empty_directory_has_no_migrations(tmp_path):
    assert discover(make(tmp_path / "empty")) == []


@pytest.mark.parametrize("bad", ["1_init.sql", "01_init.sql", "001-init.sql", "001_Init.sql", "init.sql",
                                 "001_.sql", "001_in-it.sql", "001 init.sql", "abc_init.sql"])
def test_rejects_a_misnamed_file_and_names_it(tmp_path, bad):
    d = make(tmp_path, "002_ok.sql", bad)
    with pytest.raises(ConfigError, match=bad):
        discover(d)


def test_rejects_a_duplicate_number_in_one_directory(tmp_path):
    d = make(tmp_path, "010_users.sql", "010_posts.sql")
    with pytest.raises(ConfigError, match="010_posts.sql"):
        discover(d)


def test_rejects_a_duplicate_number_across_directories(tmp_path):
    a = make(tmp_path / "a", "001_outbox.sql")
    b = make(tmp_path / "b", "001_service.sql")
    with pytest.raises(ConfigError, match="share number 1"):
        discover(a, b)


def test_rejects_the_same_number_written_with_different_padding(tmp_path):
    d = make(tmp_path, "010_a.sql", "0010_b.sql")
    with pytest.raises(ConfigError):
        discover(d)


# --- the shipped folders ----------------------------------------------------------------------------------------


def test_every_service_ships_a_migrations_folder():
    assert {d.parent.name for d in SERVICE_MIGRATION_DIRS} == {"forum", "moderation", "notifications"}


def test_shared_migrations_are_numbered_below_010():
    shared = discover(COMMON_MIGRATIONS)
    assert shared, "services/common/sql has no migrations"
    assert all(m.version < 10 for m in shared)


@pytest.mark.parametrize("directory", SERVICE_MIGRATION_DIRS, ids=lambda d: d.parent.name)
def test_service_migrations_discover_cleanly_with_the_shared_ones(directory):
    own = discover(directory)
    assert own, f"{directory} has no migrations"
    assert all(m.version >= 10 for m in own)
    together = discover(COMMON_MIGRATIONS, directory)
    assert len(together) == len(discover(COMMON_MIGRATIONS)) + len(own)
    assert [m.version for m in together] == sorted(m.version for m in together)


@pytest.mark.parametrize("directory", [COMMON_MIGRATIONS, *SERVICE_MIGRATION_DIRS], ids=lambda d: d.parent.name)
def test_shipped_migrations_are_not_empty(directory):
    for migration in discover(directory):
        assert migration.path.read_text(encoding="utf-8").strip(), migration.path
