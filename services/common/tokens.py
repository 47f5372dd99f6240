"""Access tokens: Ed25519-signed JWTs; forum signs, every service verifies.

Only forum is given the private key, so moderation and notifications can
verify a token but never mint one. Tokens are short-lived (minutes); forum's
refresh path issues new ones. The role rides inside the token; a suspension
takes effect before expiry through each service's suspension list
(``services.common.suspensions``), not through the token; so do a logout, a
reused refresh token and a role change, through the session list
(``services.common.sessions``: the ``sid`` claim names the session).

**Key rotation.** Every token names its signing key in the ``kid`` header (a
fingerprint of the public key). A verifier holds a *key set*: the PEM file in
``TOKEN_PUBLIC_KEY_FILE`` may hold several public keys, one after another.
To rotate: add the new public key to every service's file, then give forum
the new private key; tokens signed with the old key keep verifying until
they expire, then the old public key is dropped (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.domain import ROLES
from services.common.errors import ConfigError, Unauthorized

ISSUER = "haven-forum"
AUDIENCE = "haven"


@dataclass(frozen=True)
class Principal:
    """Who is calling: taken from a verified token.

    ``sid`` names the session (the refresh-token family) the token was minted for;
    ``issued_at`` / ``expires_at`` are its ``iat`` / ``exp`` (Unix seconds). They do not take
    part in equality: two tokens of the same account and role are the same caller.
    """

    user_id: str
    handle: str
    role: str
    sid: str | None = field(default=None, compare=False)
    issued_at: int = field(default=0, compare=False)
    expires_at: int = field(default=0, compare=False)


_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The ``kid`` of a public key: base64url of the first 12 bytes of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")


class TokenVerifier:
    """Verifies tokens against a key set: the current public key and, during a rotation, the previous ones."""

    def __init__(self, public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> None:
        keys = [public_keys] if isinstance(public_keys, Ed25519PublicKey) else list(public_keys)
        if not keys:
            raise ConfigError("the token key set is empty")
        self._keys = {key_id(k): k for k in keys}

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @classmethod
    def from_file(cls, path: Path) -> "TokenVerifier":
        """Every PEM public key in ``path`` (one, or several during a key rotation)."""
        try:
            raw = path.read_bytes()
            blocks = _PEM_BLOCK.findall(raw) or [raw]
            keys = [serialization.load_pem_public_key(block) for block in blocks]
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the token public key {path}") from e
        if not all(isinstance(key, Ed25519PublicKey) for key in keys):
            raise ConfigError(f"{path} is not an Ed25519 public key")
        return cls(keys)

    def verify(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as e:
            raise Unauthorized("invalid token") from e
        if kid is not None:
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise Unauthorized("invalid token")  # signed with a key this service no longer trusts
            candidates = [key]
        else:
            candidates = list(self._keys.values())  # tokens minted before kid existed
        claims = None
        for candidate in candidates:
            try:
                claims = jwt.decode(
                    token, candidate, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                    options={"require": ["exp", "iat", "sub", "role"]},
                )
                break
            except jwt.ExpiredSignatureError as e:
                raise Unauthorized("token expired") from e
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as e:
                raise Unauthorized("invalid token") from e
        if claims is None:
            raise Unauthorized("invalid token")
        if claims["role"] not in ROLES:
            raise Unauthorized("invalid token")
        sid = claims.get("sid")
        if sid is not None and not isinstance(sid, str):
            raise Unauthorized("invalid token")
        return Principal(user_id=claims["sub"], handle=claims.get("handle", ""), role=claims["role"], sid=sid,
                         issued_at=int(claims["iat"]), expires_at=int(claims["exp"]))


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        self._key = private_key
        self.ttl_seconds = ttl_seconds
        self.key_id = key_id(private_key.public_key())

    @classmethod
    def from_file(cls, path: Path, ttl_seconds: int) -> "TokenSigner":
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the token private key {path}") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} is not an Ed25519 private key")
        return cls(key, ttl_seconds)

    def issue(self, principal: Principal, sid: str | None = None) -> str:
        """A signed access token; ``sid`` names its session (the refresh-token family) for revocation."""
        now = int(time.time())
        claims = {
            "sub": principal.user_id, "handle": principal.handle, "role": principal.role,
            "iat": now, "exp": now + self.ttl_seconds, "iss": ISSUER, "aud": AUDIENCE, "jti": str(uuid.uuid4()),
        }
        if sid is not None:
            claims["sid"] = sid
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id})


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM files (private one readable by its owner only)."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(private_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only from the first byte, whatever the umask.

    A fresh file beside ``path`` is created with ``O_CREAT | O_EXCL`` and mode 0600 (the umask can only
    remove bits), written, synced, then renamed over ``path``: no moment where the key is on disk with
    group or other bits, no half-written key under the real name, and an existing key is replaced whole.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # exactly 0600 even under an odd umask (0o277 would leave 0400)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
