"""Access tokens: Ed25519-signed JWTs; forum signs, every service verifies.

Only forum is given the private key, so moderation and notifications can
verify a token but never mint one. Tokens are short-lived (minutes); forum's
refresh path issues new ones. The role rides inside the token; a suspension
takes effect before expiry through each service's suspension list
(``services.common.suspensions``), not through the token.

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
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.errors import ConfigError, Unauthorized

ROLES = ("member", "moderator", "crisis_staff", "admin")
ISSUER = "haven-forum"
AUDIENCE = "haven"


@dataclass(frozen=True)
class Principal:
    """Who is calling: taken from a verified token."""

    user_id: str
    handle: str
    role: str


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
        return Principal(user_id=claims["sub"], handle=claims.get("handle", ""), role=claims["role"])


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

    def issue(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "sub": principal.user_id, "handle": principal.handle, "role": principal.role,
            "iat": now, "exp": now + self.ttl_seconds, "iss": ISSUER, "aud": AUDIENCE, "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id})


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM files (private one readable by its owner only)."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
