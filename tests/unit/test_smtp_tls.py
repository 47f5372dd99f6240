"""SMTP credentials never travel in clear (issue 24, item 7).

With ``SMTP_USERNAME`` set, TLS is required (STARTTLS or implicit TLS): the configuration
refuses a username with TLS switched off, and the sender never sends AUTH over a plain
connection, whatever the server offers (a man in the middle can strip STARTTLS from EHLO).
Real SMTP servers (aiosmtpd) on 127.0.0.1; no PostgreSQL or Kafka needed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import uuid
import warnings
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.common.errors import ConfigError
from services.common.tokens import generate_keypair
from services.notifications.channels import DeliverySettings
from services.notifications.config import NotificationsConfig
from services.notifications.delivery import DeliveryError, DeliveryWorker, SmtpSettings

USER, PASSWORD = "haven-mailer", "s3cret-smtp-password"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "private.pem", tmp_path / "keys" / "public.pem"
    generate_keypair(private, public)
    return private, public


def _env(keys, **smtp: str) -> dict[str, str]:
    private, public = keys
    return {"DATABASE_URL": "postgresql://haven@db/haven", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            "TOKEN_PUBLIC_KEY_FILE": str(public), "SMTP_HOST": "smtp.example.org", **smtp}


# --- configuration ------------------------------------------------------------------------------

def test_config_refuses_a_username_with_tls_switched_off(keys) -> None:
    with pytest.raises(ConfigError) as refused:
        NotificationsConfig.from_env(_env(keys, SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD, SMTP_STARTTLS="false"))
    message = str(refused.value)
    assert "SMTP_USERNAME" in message and "TLS" in message
    assert PASSWORD not in message


def test_a_username_makes_starttls_required_not_opportunistic(keys) -> None:
    """Unset SMTP_STARTTLS means "if offered": with credentials, that would be strippable, so it is required."""
    config = NotificationsConfig.from_env(_env(keys, SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD))
    assert config.smtp.starttls is True
    implicit = NotificationsConfig.from_env(_env(keys, SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD, SMTP_TLS="true",
                                                 SMTP_PORT="465"))
    assert implicit.smtp.implicit_tls is True and implicit.smtp.starttls is False


def test_config_refuses_conflicting_or_half_credentials(keys) -> None:
    with pytest.raises(ConfigError, match="SMTP_TLS"):
        NotificationsConfig.from_env(_env(keys, SMTP_TLS="true", SMTP_STARTTLS="true"))
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        NotificationsConfig.from_env(_env(keys, SMTP_PASSWORD=PASSWORD, SMTP_STARTTLS="true"))


def test_without_credentials_plain_smtp_stays_allowed(keys) -> None:
    config = NotificationsConfig.from_env(_env(keys, SMTP_STARTTLS="false"))
    assert config.smtp.username is None and config.smtp.starttls is False


# --- sending ------------------------------------------------------------------------------------

class _Server:
    """A real SMTP server: remembers messages, AUTH attempts and whether the session was TLS."""

    def __init__(self) -> None:
        self.messages: list[list[str]] = []
        self.logins: list[tuple[str, str, bool]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(list(envelope.rcpt_tos))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode(), session.ssl is not None))
        return AuthResult(success=auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(server: _Server, **smtp_options) -> Controller:
    controller = Controller(server, hostname="127.0.0.1", port=_free_port(), authenticator=server.authenticate,
                            **smtp_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS: that server is the attacker here
        controller.start()
    return controller


def _items() -> list[dict]:
    return [{"id": uuid.uuid4(), "type": "crisis.escalation", "category": "crisis",
             "data": json.dumps({"escalation_id": str(uuid.uuid4())}), "created_at": dt.datetime.now(dt.timezone.utc)}]


def _worker(smtp: SmtpSettings) -> DeliveryWorker:
    return DeliveryWorker(pool=None, dsn="", settings=DeliverySettings(email_enabled=True, timeout_seconds=5),
                          smtp=smtp)


async def test_never_logs_in_over_a_plain_connection() -> None:
    """A server (or a man in the middle) that offers no STARTTLS but takes AUTH gets no credentials."""
    server = _Server()
    controller = _start(server, auth_require_tls=False)
    try:
        for starttls in (None, True):  # None: what an older configuration built ("STARTTLS if offered")
            smtp = SmtpSettings(host="127.0.0.1", port=controller.port, username=USER, password=PASSWORD,
                                starttls=starttls)
            with pytest.raises(DeliveryError) as failed:
                await _worker(smtp)._send_email("alex@example.org", _items())
            assert PASSWORD not in str(failed.value)
        assert server.logins == [], "credentials were sent over a plain connection"
        assert server.messages == []
    finally:
        controller.stop()


@pytest.fixture
def tls_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 that the client trusts (SSL_CERT_FILE): the server's context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def test_logs_in_only_after_starttls(tls_certificate: ssl.SSLContext) -> None:
    server = _Server()
    controller = _start(server, tls_context=tls_certificate, require_starttls=True, auth_require_tls=True)
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=controller.port, username=USER, password=PASSWORD, starttls=True)
        assert await _worker(smtp)._send_email("alex@example.org", _items()) == 250
        assert server.logins == [(USER, PASSWORD, True)], "one login, inside TLS"
        assert server.messages == [["alex@example.org"]]
    finally:
        controller.stop()
