"""SSRF checks on webhook URLs: the URL's shape, and every address its host resolves to."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tessera.features.webhooks.adapters.ssrf_guard import resolve_checked
from tessera.features.webhooks.domain.targets import (
    CheckedTarget,
    UnsafeTarget,
    address_refusal,
    parse_ip,
    parse_target_url,
)
from tessera.shared.domain.errors import InvalidInput

PUBLIC = "93.184.216.34"

Resolver = Callable[..., Any]


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


@pytest.fixture
def resolve_to(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Sequence[str]]], list[str]]:
    """Patch the running loop's `getaddrinfo` with a fixed table; returns the looked-up names."""
    asked: list[str] = []

    def install(table: dict[str, Sequence[str]]) -> list[str]:
        async def fake(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
            asked.append(host)
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [_info(address, port) for address in table[host]]

        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
        return asked

    return install


REFUSED_ADDRESSES = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.9.9.9:8080/x", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.1", "10.0.0.0/8"),
    ("http://172.16.5.4/", "172.16.0.0/12"),
    ("http://172.31.255.255/", "172.16.0.0/12"),
    ("http://192.168.1.1/", "192.168.0.0/16"),
    ("http://100.64.0.1/", "100.64.0.0/10"),
    ("http://[fd00::1]/", "fc00::/7"),
    ("http://[fc00::1]/", "fc00::/7"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://[::ffff:10.0.0.1]/", "10.0.0.0/8) (IPv4 embedded in IPv6)"),
    ("http://[::ffff:127.0.0.1]/", "loopback (IPv4 embedded in IPv6)"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[2002:a00:1::]/", "10.0.0.0/8) (IPv4 embedded in IPv6)"),
]

REFUSED_SHAPES = [
    ("ftp://x", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("gopher://example.com/", "http or https"),
    ("example.com/hook", "http or https"),
    ("http://user:pw@example.com", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("https://:pw@example.com/", "credentials"),
    ("http:///path", "host"),
    ("http://", "host"),
    ("http://example.com:0/", "port"),
    ("http://example.com:65536/", "port"),
    ("http://example.com:99999/", "port"),
]


@pytest.mark.parametrize(("url", "rule"), REFUSED_ADDRESSES)
async def test_non_public_address_literals_are_refused(url: str, rule: str) -> None:
    with pytest.raises(UnsafeTarget) as caught:
        await resolve_checked(url)
    assert rule in caught.value.message
    assert "WEBHOOK_ALLOW_PRIVATE_TARGETS" in caught.value.message  # how to allow it
    assert caught.value.field == "url"
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(("url", "rule"), REFUSED_SHAPES)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_scheme_credentials_host_and_port_rules_hold_even_when_private_is_allowed(
    url: str, rule: str, allow_private: bool
) -> None:
    with pytest.raises(UnsafeTarget, match=rule) as caught:
        await resolve_checked(url, allow_private=allow_private)
    assert caught.value.field == "url"


async def test_a_name_resolving_to_a_private_address_is_refused(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    asked = resolve_to({"internal.example.com": ["10.0.0.1"]})
    refusal = r"10\.0\.0\.1 is not allowed: private \(10\.0\.0\.0/8\)"
    with pytest.raises(UnsafeTarget, match=refusal):
        await resolve_checked("https://internal.example.com/hook")
    assert asked == ["internal.example.com"]


async def test_a_name_is_refused_if_any_one_of_its_addresses_is_refused(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    resolve_to({"mixed.example.com": [PUBLIC, "2606:2800:220:1::1", "::1"]})
    with pytest.raises(UnsafeTarget, match="loopback"):
        await resolve_checked("https://mixed.example.com/")


async def test_a_public_name_passes_with_its_checked_addresses(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    resolve_to({"example.com": [PUBLIC, PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]})
    checked = await resolve_checked("https://Example.com/hooks?x=1")
    assert checked == CheckedTarget(
        url="https://Example.com/hooks?x=1",
        host="example.com",
        port=443,
        addresses=(PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"),
    )


async def test_a_public_literal_passes_without_resolving(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    asked = resolve_to({})
    checked = await resolve_checked(f"http://{PUBLIC}:8080/in")
    assert checked == CheckedTarget(f"http://{PUBLIC}:8080/in", PUBLIC, 8080, (PUBLIC,))
    assert asked == []


async def test_a_name_that_does_not_resolve_is_refused(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    resolve_to({})
    with pytest.raises(UnsafeTarget, match="does not resolve") as caught:
        await resolve_checked("https://nowhere.invalid/")
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1",
        "http://[::ffff:10.0.0.1]/",
        "http://192.168.1.1:8080/",
    ],
)
async def test_private_addresses_pass_when_allowed(url: str) -> None:
    checked = await resolve_checked(url, allow_private=True)
    assert checked.addresses == (str(parse_ip(checked.host)),)


async def test_a_name_resolving_to_a_private_address_passes_when_allowed(
    resolve_to: Callable[[dict[str, Sequence[str]]], list[str]],
) -> None:
    resolve_to({"receiver.local": ["10.0.0.1"]})
    checked = await resolve_checked("http://receiver.local:9000/", allow_private=True)
    assert checked.addresses == ("10.0.0.1",)
    assert checked.port == 9000


def test_default_ports_and_host_normalisation() -> None:
    assert parse_target_url("http://EXAMPLE.com").port == 80
    assert parse_target_url("https://example.com").port == 443
    assert parse_target_url("HTTPS://[2606:2800::1]:8443/").host == "2606:2800::1"


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:2800:220:1::1", "::ffff:8.8.8.8"])
def test_public_addresses_have_no_refusal(address: str) -> None:
    parsed = parse_ip(address)
    assert parsed is not None
    assert address_refusal(parsed) is None
