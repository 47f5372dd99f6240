"""Access tokens: Ed25519-signed JWTs; forum signs, every service verifies.

Only forum is given the private key, so moderation and notifications can
verify a token but never mint one. Tokens are short-lived (minutes); forum's
refresh path issues new ones. The role rides inside the token; checks that
must take effect before expiry (suspension) are made against the database on
writes.
"""

from __future__ import annotations

import time
import uuid
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


class TokenVerifier:
    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._key = public_key

    @classmethod
    def from_file(cls, path: Path) -> "TokenVerifier":
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the token public key {path}") from e
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{path} is not an Ed25519 public key")
        return cls(key)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("token expired") from e
        except jwt.PyJWTError as e:
            raise Unauthorized("invalid token") from e
        if claims["role"] not in ROLES:
            raise Unauthorized("invalid token")
        return Principal(user_id=claims["sub"], handle=claims.get("handle", ""), role=claims["role"])


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        self._key = private_key
        self.ttl_seconds = ttl_seconds

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
        return jwt.encode(claims, self._key, algorithm="EdDSA")


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
