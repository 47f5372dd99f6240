"""How every command-line tool ends (services/common/cli.py): one line on stderr and a status."""

from __future__ import annotations

import asyncpg
import pytest

from services.common.cli import exit_status
from services.common.errors import ConfigError, Conflict, InfrastructureError


def _raise(error: BaseException):
    def work() -> int:
        raise error

    return work


def test_a_clean_run_is_its_own_status_and_none_is_zero() -> None:
    assert exit_status("tool", lambda: 3) == 3
    assert exit_status("tool", lambda: None) == 0


def test_haven_errors_are_one_line_and_status_two_unless_mapped(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("tool", _raise(Conflict("that handle is taken"))) == 2
    assert capsys.readouterr().err == "tool: that handle is taken\n"
    assert exit_status("tool", _raise(InfrastructureError("broker down")), {InfrastructureError: 1}) == 1
    assert exit_status("tool", _raise(ConfigError("X is required")), {InfrastructureError: 1}) == 2


def test_a_database_error_is_named_by_its_class_only(capsys: pytest.CaptureFixture[str]) -> None:
    error = asyncpg.UniqueViolationError('Key (handle)=(secret_person) already exists')
    assert exit_status("tool", _raise(error)) == 2
    err = capsys.readouterr().err
    assert err == "tool: database: UniqueViolationError\n" and "secret_person" not in err


def test_a_file_problem_is_status_two_and_a_bug_propagates(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("tool", _raise(FileNotFoundError(2, "No such file", "policy.yaml"))) == 2
    assert "FileNotFoundError" in capsys.readouterr().err
    with pytest.raises(KeyError):
        exit_status("tool", _raise(KeyError("bug")))
