"""TRUSTED_PROXIES parsing, the client address behind trusted proxies, and the login guard.

The login guard is driven by a fake clock (no sleeping).
"""

from __future__ import annotations

import ipaddress
import re
from types import SimpleNamespace

import pytest

from services.common import ratelimit
from services.common.config import CommonConfig, EnvReader, parse_networks
from services.common.errors import ConfigError, RateLimited
from services.common.http.addresses import resolve_client_address
from services.common.ratelimit import LoginGuard

# --- TRUSTED_PROXIES -----------------------------------------------------------------


def test_parses_addresses_and_networks() -> None:
    networks = parse_networks("10.0.0.0/8, 127.0.0.1 ,::1,fd00::/8,,")
    assert networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"),
                        ipaddress.ip_network("::1/128"), ipaddress.ip_network("fd00::/8"))
    assert parse_networks("") == ()
    assert parse_networks("  ") == ()


@pytest.mark.parametrize("raw", ["10.0.0.300", "example.org", "10.0.0.1/8", "*", "10.0.0.0/33", "1.2.3.4:80"])
def test_refuses_what_is_not_an_address_or_network(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_networks(raw)


def _common(**env: str) -> tuple[CommonConfig | None, list[str]]:
    reader = EnvReader({"DATABASE_URL": "postgresql://x", "KAFKA_BOOTSTRAP_SERVERS": "k:9092", **env})
    config = CommonConfig.read(reader, default_port=8080)
    return config, [p for p in reader.problems if "TOKEN_PUBLIC_KEY_FILE" not in p]


def test_common_config_reads_trusted_proxies() -> None:
    config, problems = _common(TRUSTED_PROXIES="172.16.0.0/12,127.0.0.1")
    assert problems == []
    assert config.trusted_proxies == (ipaddress.ip_network("172.16.0.0/12"), ipaddress.ip_network("127.0.0.1/32"))
    config, problems = _common()
    assert config.trusted_proxies == () and problems == []


def test_common_config_reports_a_bad_trusted_proxy() -> None:
    _, problems = _common(TRUSTED_PROXIES="10.0.0.0/8,not-an-ip")
    assert len(problems) == 1 and "TRUSTED_PROXIES" in problems[0] and "not-an-ip" in problems[0]
    with pytest.raises(ConfigError):
        reader = EnvReader({"TRUSTED_PROXIES": "bad"})
        CommonConfig.read(reader, default_port=1)
        reader.raise_if_problems()


# --- the client address ----------------------------------------------------------------

PROXIES = parse_networks("10.0.0.0/8,192.0.2.1")


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    # A trusted peer: the right-most address that is not itself a trusted proxy.
    ("10.1.2.3", ["198.51.100.7"], "198.51.100.7"),
    ("10.1.2.3", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),            # a forged left part is ignored
    ("10.1.2.3", ["6.6.6.6, 198.51.100.7, 10.9.9.9, 192.0.2.1"], "198.51.100.7"),  # chain of trusted hops
    ("10.1.2.3", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),          # several header lines, in order
    ("10.1.2.3", [" 2001:db8::1 "], "2001:db8::1"),
    ("10.1.2.3", ["[2001:db8::1]"], "2001:db8::1"),
    ("10.1.2.3", ["::ffff:198.51.100.7"], "198.51.100.7"),              # IPv4-mapped is the IPv4 address
    # A trusted peer without the header, or with only trusted hops: the left-most trusted hop.
    ("10.1.2.3", [], "10.1.2.3"),
    ("10.1.2.3", ["10.9.9.9"], "10.9.9.9"),
    # Garbage where a trusted hop should have written an address: the last hop we can vouch for.
    ("10.1.2.3", ["198.51.100.7, garbage"], "10.1.2.3"),
    ("10.1.2.3", ["198.51.100.7, , 10.9.9.9"], "10.9.9.9"),
    (None, ["198.51.100.7"], "unknown"),
])
def test_resolve_client_address(peer, forwarded, expected) -> None:
    assert resolve_client_address(peer, forwarded, PROXIES) == expected


def test_the_header_is_read_only_from_a_trusted_peer() -> None:
    assert resolve_client_address("203.0.113.5", ["198.51.100.7"], ()) == "203.0.113.5"  # none configured
    assert resolve_client_address("203.0.113.5", ["198.51.100.7"], PROXIES) == "203.0.113.5"  # untrusted peer
    assert resolve_client_address("::ffff:10.1.2.3", ["198.51.100.7"], PROXIES) == "198.51.100.7"


# --- the login guard ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def guard(**overrides) -> LoginGuard:
    settings = {"failures_per_minute": 3, "handle_failures_per_hour": 5, "known_address_days": 30} | overrides
    return LoginGuard.create(**settings)


def fail(g: LoginGuard, handle: str, address: str) -> None:
    g.failed(g.begin(handle, address))


def test_successes_do_not_count(clock) -> None:
    g = guard()
    for _ in range(10):
        g.succeeded(g.begin("crisis_worker", "198.51.100.1"))


def test_failures_per_handle_and_address_close_that_pair_only(clock) -> None:
    g = guard()
    for _ in range(3):
        fail(g, "crisis_worker", "203.0.113.66")
    with pytest.raises(RateLimited) as refused:
        g.begin("crisis_worker", "203.0.113.66")
    assert 1 <= refused.value.retry_after <= 60
    # The owner, elsewhere, is not affected.
    g.succeeded(g.begin("Crisis_Worker", "198.51.100.1"))
    clock.now += 61
    g.begin("crisis_worker", "203.0.113.66")


def test_failures_per_address_stop_spraying_handles(clock) -> None:
    g = guard()
    for n in range(3):
        fail(g, f"nobody{n}", "203.0.113.66")
    with pytest.raises(RateLimited):
        g.begin("nobody9", "203.0.113.66")


def test_concurrent_attempts_are_counted_before_the_password_is_checked(clock) -> None:
    g = guard()
    attempts = [g.begin("crisis_worker", "203.0.113.66") for _ in range(3)]
    with pytest.raises(RateLimited):
        g.begin("crisis_worker", "203.0.113.66")
    g.succeeded(attempts[0])  # a success gives its slot back
    g.begin("crisis_worker", "203.0.113.66")


def test_a_distributed_guess_closes_the_handle_to_new_addresses_only(clock) -> None:
    g = guard()
    g.succeeded(g.begin("crisis_worker", "198.51.100.1"))  # the owner's usual address
    for n in range(5):
        fail(g, "crisis_worker", f"203.0.113.{n}")
    with pytest.raises(RateLimited) as refused:
        g.begin("crisis_worker", "203.0.113.99")  # a new address: refused before any password check
    assert 3000 < refused.value.retry_after <= 3600
    for _ in range(10):  # the owner still signs in, as often as they like
        g.succeeded(g.begin("crisis_worker", "198.51.100.1"))
    fail(g, "crisis_worker", "198.51.100.1")  # and a typo there is an ordinary failure
    clock.now += 3601
    g.begin("crisis_worker", "203.0.113.99")


def test_known_addresses_are_forgotten(clock) -> None:
    g = guard(known_address_days=1)
    g.succeeded(g.begin("crisis_worker", "198.51.100.1"))
    clock.now += 86400 + 1
    for n in range(5):
        fail(g, "crisis_worker", f"203.0.113.{n}")
    with pytest.raises(RateLimited):
        g.begin("crisis_worker", "198.51.100.1")


def test_the_guard_holds_no_plain_address(clock) -> None:
    g = guard()
    g.succeeded(g.begin("crisis_worker", "198.51.100.1"))
    assert not any("198.51.100.1" in key for key in g.known_keys())


# --- the shipped deployment ----------------------------------------------------------------


def test_the_shipped_edge_sets_x_forwarded_for_and_the_services_trust_only_it() -> None:
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    nginx = (root / "deploy" / "compose" / "nginx.conf").read_text(encoding="utf-8")
    # Replaced, not appended ($proxy_add_x_forwarded_for): whatever a client sent is dropped at the edge.
    assert re.search(r"^\s*proxy_set_header X-Forwarded-For \$remote_addr;", nginx, re.M)
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    trusted = parse_networks(compose["services"]["forum"]["environment"]["TRUSTED_PROXIES"])
    assert trusted and all(network.is_private for network in trusted), "only the compose network is trusted"
    config = yaml.safe_load((root / "deploy" / "k8s" / "config.yaml").read_text(encoding="utf-8"))
    assert parse_networks(config["data"]["TRUSTED_PROXIES"])
