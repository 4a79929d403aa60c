"""The client address behind proxies: `X-Forwarded-For` believed only from trusted ones."""

from __future__ import annotations

import pytest

from tessera.shared.http.client_ip import ClientIpResolver, parse_address

PROXIES = ClientIpResolver(["10.0.0.0/8", "192.0.2.10", "2001:db8:ffff::/48"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    resolver = ClientIpResolver([])
    assert resolver.resolve("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert PROXIES.resolve("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_trusted_peer_is_believed_about_the_client() -> None:
    assert PROXIES.resolve("10.1.2.3", "203.0.113.9") == "203.0.113.9"
    assert PROXIES.resolve("192.0.2.10", "203.0.113.9") == "203.0.113.9"


def test_the_rightmost_untrusted_hop_wins_over_addresses_the_client_made_up() -> None:
    # The client sent "1.1.1.1" itself; our proxy appended the address it really saw.
    assert PROXIES.resolve("10.0.0.2", "1.1.1.1, 203.0.113.9") == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_skipped() -> None:
    chain = "203.0.113.9, 10.9.9.9, 192.0.2.10"
    assert PROXIES.resolve("10.0.0.2", chain) == "203.0.113.9"


def test_malformed_entries_are_skipped_not_believed() -> None:
    assert PROXIES.resolve("10.0.0.2", "203.0.113.9, unknown, , _hidden, 999.1.1.1") == (
        "203.0.113.9"
    )


def test_a_header_with_no_address_falls_back_to_the_peer() -> None:
    assert PROXIES.resolve("10.0.0.2", "garbage, unknown") == "10.0.0.2"
    assert PROXIES.resolve("10.0.0.2", "") == "10.0.0.2"
    assert PROXIES.resolve("10.0.0.2", None) == "10.0.0.2"


def test_when_every_hop_is_ours_the_first_one_is_the_client() -> None:
    assert PROXIES.resolve("10.0.0.2", "10.5.5.5, 10.6.6.6") == "10.5.5.5"


def test_ipv6_proxies_and_clients() -> None:
    assert PROXIES.resolve("2001:db8:ffff::1", "2001:DB8:1::0001") == "2001:db8:1::1"
    assert PROXIES.resolve("2001:db8:aaaa::1", "203.0.113.9") == "2001:db8:aaaa::1"


def test_ports_are_ignored_in_peers_and_hops() -> None:
    assert PROXIES.resolve("10.0.0.2", "203.0.113.9:51000") == "203.0.113.9"
    assert PROXIES.resolve("10.0.0.2", "[2001:db8:1::1]:443") == "2001:db8:1::1"


def test_an_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    assert PROXIES.resolve("::ffff:10.0.0.2", "203.0.113.9") == "203.0.113.9"
    assert PROXIES.resolve("::ffff:198.51.100.7", None) == "198.51.100.7"


def test_a_peer_that_is_no_address_is_kept_and_never_trusted() -> None:
    assert PROXIES.resolve("testclient", "203.0.113.9") == "testclient"
    assert PROXIES.resolve(None, "203.0.113.9") == "unknown"


@pytest.mark.parametrize("text", ["", "unknown", "1.2.3", "[::1", "::1]:80", "1.2.3.4:x:y"])
def test_non_addresses_do_not_parse(text: str) -> None:
    assert parse_address(text) is None
