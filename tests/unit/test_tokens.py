"""Access tokens: Ed25519 JWTs that only forum can mint and every service verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.errors import ConfigError, Unauthorized
from services.common.domain import ROLES
from services.common.tokens import AUDIENCE, ISSUER, Principal, TokenSigner, TokenVerifier, generate_keypair

ALICE = Principal(user_id="0b8f6a52-1d6c-4c7e-9a55-5f0f0f0f0f0f", handle="alice", role="member")


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signer(private_key) -> TokenSigner:
    return TokenSigner(private_key, ttl_seconds=300)


@pytest.fixture(scope="module")
def verifier(private_key) -> TokenVerifier:
    return TokenVerifier(private_key.public_key())


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**overrides) -> dict:
    now = int(time.time())
    return {"sub": ALICE.user_id, "handle": "alice", "role": "member", "iat": now, "exp": now + 300,
            "iss": ISSUER, "aud": AUDIENCE, **overrides}


@pytest.mark.parametrize("role", ROLES)
def test_issue_verify_round_trip_carries_the_role(signer, verifier, role):
    principal = Principal(ALICE.user_id, "alice", role)
    assert verifier.verify(signer.issue(principal)) == principal


def test_issued_token_is_eddsa_with_issuer_audience_and_expiry(signer):
    token = signer.issue(ALICE)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    body = jwt.decode(token, options={"verify_signature": False})
    assert (body["iss"], body["aud"], body["exp"] - body["iat"]) == (ISSUER, AUDIENCE, 300)


def test_keys_written_to_files_work_together(tmp_path):
    generate_keypair(tmp_path / "k" / "private.pem", tmp_path / "k" / "public.pem")
    signer = TokenSigner.from_file(tmp_path / "k" / "private.pem", ttl_seconds=60)
    verifier = TokenVerifier.from_file(tmp_path / "k" / "public.pem")
    assert verifier.verify(signer.issue(ALICE)) == ALICE
    assert (tmp_path / "k" / "private.pem").stat().st_mode & 0o077 == 0


def test_expired_token_is_unauthorized(private_key, verifier):
    token = TokenSigner(private_key, ttl_seconds=-10).issue(ALICE)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_token_signed_by_another_key_is_unauthorized(verifier):
    token = TokenSigner(Ed25519PrivateKey.generate(), ttl_seconds=300).issue(ALICE)
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_tampered_payload_is_unauthorized(signer, verifier):
    header, payload, signature = signer.issue(ALICE).split(".")
    body = json.loads(b64url_decode(payload))
    body["role"] = "admin"
    forged = ".".join([header, b64url(json.dumps(body).encode()), signature])
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_tampered_signature_is_unauthorized(signer, verifier):
    header, payload, signature = signer.issue(ALICE).split(".")
    flipped = bytearray(b64url_decode(signature))
    flipped[0] ^= 1
    with pytest.raises(Unauthorized):
        verifier.verify(".".join([header, payload, b64url(bytes(flipped))]))


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.Raw])
def test_hs256_token_keyed_with_the_public_key_is_unauthorized(private_key, verifier, encoding):
    public_format = (serialization.PublicFormat.SubjectPublicKeyInfo if encoding is serialization.Encoding.PEM
                     else serialization.PublicFormat.Raw)
    secret = private_key.public_key().public_bytes(encoding, public_format)
    signing_input = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
        b64url(json.dumps(claims(role="admin")).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized):
        verifier.verify(signing_input + "." + b64url(signature))


def test_unsigned_alg_none_token_is_unauthorized(verifier):
    token = b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(claims(role="admin")).encode()) + "."
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_unknown_role_is_unauthorized(private_key, verifier):
    token = jwt.encode(claims(role="superuser"), private_key, algorithm="EdDSA")
    with pytest.raises(Unauthorized):
        verifier.verify(token)


@pytest.mark.parametrize("claim", ["sub", "role", "exp", "iat"])
def test_token_missing_a_required_claim_is_unauthorized(private_key, verifier, claim):
    body = claims()
    del body[claim]
    with pytest.raises(Unauthorized):
        verifier.verify(jwt.encode(body, private_key, algorithm="EdDSA"))


@pytest.mark.parametrize("override", [{"aud": "elsewhere"}, {"iss": "someone-else"}])
def test_wrong_audience_or_issuer_is_unauthorized(private_key, verifier, override):
    with pytest.raises(Unauthorized):
        verifier.verify(jwt.encode(claims(**override), private_key, algorithm="EdDSA"))


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_unauthorized(verifier, token):
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_verifier_refuses_a_key_that_is_not_ed25519(tmp_path):
    path = tmp_path / "ec.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match="not an Ed25519"):
        TokenVerifier.from_file(path)


@pytest.mark.parametrize("content", [None, b"not a pem"], ids=["missing", "garbage"])
def test_unreadable_key_files_are_config_errors(tmp_path, content):
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError):
        TokenVerifier.from_file(path)
    with pytest.raises(ConfigError):
        TokenSigner.from_file(path, ttl_seconds=60)


def test_verifier_cannot_be_built_from_the_private_key_file(tmp_path):
    generate_keypair(tmp_path / "private.pem", tmp_path / "public.pem")
    with pytest.raises(ConfigError):
        TokenVerifier.from_file(tmp_path / "private.pem")
