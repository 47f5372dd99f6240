"""No SSRF through webhooks (issue 24, item 6): which addresses a webhook may reach.

A webhook URL is an admin-supplied address that the service POSTs to from inside the
network, so it must not reach loopback, link-local, private, unique-local, multicast,
unspecified or cloud-metadata addresses (IPv4-mapped IPv6 forms included) unless the host
is allow-listed (WEBHOOK_ALLOWED_HOSTS). Checked at registration and again at send time,
on every address the name resolves to, by the resolver the sending connector uses (so the
address checked is the address connected to: DNS rebinding cannot swap it). Fakes stand in
for DNS here; tests/integration/test_delivery_robustness.py sends for real.
"""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver

from services.common.errors import ConfigError
from services.notifications.webhook_targets import TargetRefused, WebhookTargets, parse_allowed_hosts

FORBIDDEN = [
    "127.0.0.1", "127.8.9.10", "::1",                            # loopback
    "169.254.169.254", "169.254.170.2", "fe80::1",               # link-local, AWS/GCP/Azure/ECS metadata
    "fd00:ec2::254", "100.100.100.200",                          # metadata (AWS IPv6, Alibaba)
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",      # private, shared (CGNAT)
    "fc00::1", "fd12:3456::1",                                   # unique-local
    "224.0.0.1", "239.255.255.250", "ff02::1",                   # multicast
    "0.0.0.0", "::",                                             # unspecified
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",                   # NAT64 / 6to4 wrapping 169.254.169.254
    "192.0.2.1", "198.51.100.7", "240.0.0.1", "255.255.255.255",  # documentation, reserved, broadcast
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"]


class FakeDns(AbstractResolver):
    """Answers from a table; each name's answers can change between lookups (rebinding)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        self.lookups.append(host)
        answers = self.table.get(host)
        if not answers:
            raise OSError(socket.EAI_NONAME, "Name or service not known")
        current = answers.pop(0) if len(answers) > 1 else answers[0]
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET6 if ":" in address
                 else socket.AF_INET, "proto": 0, "flags": 0} for address in current]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_a_literal_forbidden_address_is_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(TargetRefused) as refused:
        await WebhookTargets(resolver=FakeDns({})).vet(f"http://{host}:8080/hook")
    assert address not in str(refused.value), "the reason names no address (it is logged)"


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_a_name_resolving_to_a_forbidden_address_is_refused(address: str) -> None:
    dns = FakeDns({"pager.example.org": [["93.184.215.14", address]]})  # one bad answer among good ones
    with pytest.raises(TargetRefused):
        await WebhookTargets(resolver=dns).vet("https://pager.example.org/haven")


@pytest.mark.parametrize("address", PUBLIC)
async def test_public_addresses_are_fine(address: str) -> None:
    dns = FakeDns({"pager.example.org": [[address]]})
    await WebhookTargets(resolver=dns).vet("https://pager.example.org/haven")


@pytest.mark.parametrize("url", [
    "ftp://pager.example.org/x", "http:///nohost", "http://exa\u2028mple.org/", "http://xn--a.example/",
    "http://pager.example.org:99999/", "http://2130706433/", "http://127.1/", "http://0x7f.0.0.1/",
    "http://nowhere.invalid/",
])
async def test_unusable_or_disguised_urls_are_refused(url: str) -> None:
    dns = FakeDns({"2130706433": [["127.0.0.1"]], "127.1": [["127.0.0.1"]], "0x7f.0.0.1": [["127.0.0.1"]]})
    with pytest.raises(TargetRefused):
        await WebhookTargets(resolver=dns).vet(url)


async def test_allow_listed_hosts_may_be_internal() -> None:
    dns = FakeDns({"pager.internal": [["10.1.2.3"]]})
    targets = WebhookTargets(parse_allowed_hosts("pager.internal, 127.0.0.1,[::1]"), resolver=dns)
    await targets.vet("http://pager.internal/hook")
    await targets.vet("http://127.0.0.1:9000/hook")
    await targets.vet("http://[::1]:9000/hook")
    await targets.vet("http://PAGER.internal./hook")
    only_loopback_literal = WebhookTargets(parse_allowed_hosts("127.0.0.1"),
                                           resolver=FakeDns({"localhost": [["127.0.0.1"]]}))
    with pytest.raises(TargetRefused):  # the allow-list names hosts, not the addresses names resolve to
        await only_loopback_literal.vet("http://localhost:9000/hook")


async def test_the_sending_resolver_checks_every_lookup_dns_rebinding() -> None:
    """Registration saw a public address; at send time the name answers 127.0.0.1: refused, never connected."""
    dns = FakeDns({"pager.example.org": [["93.184.215.14"], ["127.0.0.1"]]})
    targets = WebhookTargets(resolver=dns)
    await targets.vet("https://pager.example.org/haven")  # registration
    resolver = targets.resolver()
    with pytest.raises(TargetRefused):
        await resolver.resolve("pager.example.org", 443, socket.AF_UNSPEC)
    assert dns.lookups == ["pager.example.org", "pager.example.org"]


async def test_the_sending_resolver_returns_exactly_the_checked_addresses() -> None:
    dns = FakeDns({"pager.example.org": [["93.184.215.14", "2606:4700:4700::1111"]]})
    results = await WebhookTargets(resolver=dns).resolver().resolve("pager.example.org", 443, socket.AF_UNSPEC)
    assert [r["host"] for r in results] == ["93.184.215.14", "2606:4700:4700::1111"]


def test_allowed_hosts_are_host_names_not_urls_or_patterns() -> None:
    assert parse_allowed_hosts(None) == frozenset()
    assert parse_allowed_hosts(" Pager.Example.org. ,127.0.0.1,,[::1]") == frozenset(
        {"pager.example.org", "127.0.0.1", "::1"})
    for bad in ("https://pager.example.org", "*.example.org", "pager.example.org:8080/x"):
        with pytest.raises(ValueError):
            parse_allowed_hosts(bad)


def test_config_reads_the_allow_list(tmp_path) -> None:
    from services.common.tokens import generate_keypair
    from services.notifications.config import NotificationsConfig

    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    generate_keypair(private, public)
    env = {"DATABASE_URL": "postgresql://haven@db/haven", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
           "TOKEN_PUBLIC_KEY_FILE": str(public)}
    assert NotificationsConfig.from_env(env).delivery.webhook_allowed_hosts == frozenset()
    config = NotificationsConfig.from_env({**env, "WEBHOOK_ALLOWED_HOSTS": "pager.internal,127.0.0.1"})
    assert config.delivery.webhook_allowed_hosts == frozenset({"pager.internal", "127.0.0.1"})
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_HOSTS"):
        NotificationsConfig.from_env({**env, "WEBHOOK_ALLOWED_HOSTS": "*.internal"})
