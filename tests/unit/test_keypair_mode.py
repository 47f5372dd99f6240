"""The token private key is never readable by anyone but its owner, not even for an instant.

``generate_keypair`` used to write the PEM and chmod it afterwards: between the two, under
a permissive umask, the private key sat on disk world-readable. The test watches the key
directory at every audited operation (open, chmod, rename, ...; ``sys.addaudithook``)
while the pair is generated, under umask 0 (the most permissive), and fails if a file
holding private-key material was ever seen with any group or other permission bit.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from services.common.tokens import generate_keypair
from services.ops import keys

_watch: dict[str, object] = {"dir": None, "seen": []}


def _audit(event: str, args: tuple) -> None:
    directory = _watch["dir"]
    if directory is None or _watch.get("busy"):
        return
    _watch["busy"] = True
    try:
        for entry in os.scandir(directory):
            if not entry.is_file(follow_symlinks=False):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            with open(entry.path, "rb") as f:  # audited too: "busy" stops the recursion
                content = f.read()
            if b"PRIVATE KEY" in content and mode & 0o077:
                _watch["seen"].append((event, entry.name, oct(stat.S_IMODE(mode))))
    finally:
        _watch["busy"] = False


sys.addaudithook(_audit)  # cannot be removed; inert while _watch["dir"] is None


@pytest.fixture
def watched(tmp_path: Path):
    directory = tmp_path / "keys"
    directory.mkdir()
    old_umask = os.umask(0)
    _watch["dir"], _watch["seen"] = str(directory), []
    try:
        yield directory
    finally:
        _watch["dir"] = None
        os.umask(old_umask)


def test_private_key_is_never_group_or_world_readable(watched: Path) -> None:
    generate_keypair(watched / "token.pem", watched / "token.pub.pem")
    _watch["dir"] = None
    assert not _watch["seen"], f"private key material was readable by others at: {_watch['seen'][:5]}"
    assert stat.S_IMODE((watched / "token.pem").stat().st_mode) == 0o600
    assert sorted(p.name for p in watched.iterdir()) == ["token.pem", "token.pub.pem"], "no temporary file left"


def test_replacing_a_key_keeps_it_private(watched: Path) -> None:
    """--force replaces an existing key: the new one is never exposed either, and the old file is gone."""
    private = watched / "token.pem"
    generate_keypair(private, watched / "token.pub.pem")
    before = private.read_bytes()
    generate_keypair(private, watched / "token.pub.pem")
    _watch["dir"] = None
    assert not _watch["seen"], _watch["seen"][:5]
    assert private.read_bytes() != before
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_ops_keys_cli_under_a_common_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        assert keys.main([str(tmp_path / "k")]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "k" / keys.PRIVATE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k" / keys.PUBLIC_NAME).stat().st_mode) == 0o644
    assert keys.main([str(tmp_path / "k")]) == 2, "an existing key is not replaced without --force"
