"""Which address a request came from, believing `X-Forwarded-For` only from our own proxies.

Anyone can send `X-Forwarded-For`, so it is read only when the immediate peer (the TCP
connection) is a configured trusted proxy. Each proxy appends the address it received the
request from, so the list is walked from the right, skipping our own proxies; the first
address that is not one of them is the client. Entries that are not addresses are skipped
rather than believed or allowed to hide the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN_CLIENT = "unknown"


class ClientIpResolver:
    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        """`trusted_proxies` are addresses or CIDRs (`10.0.0.0/8`, `2001:db8::/32`)."""
        self._trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(proxy.strip(), strict=False) for proxy in trusted_proxies
        )

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address in canonical form, or the peer as given when it is no address."""
        peer_address = parse_address(peer) if peer else None
        if peer_address is None:
            return peer or UNKNOWN_CLIENT
        if not forwarded_for or not self.is_trusted(peer_address):
            return str(peer_address)
        hops = [a for a in map(parse_address, forwarded_for.split(",")) if a is not None]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return str(hop)
        # Every hop is one of ours: the request started inside; the first hop is its origin.
        return str(hops[0]) if hops else str(peer_address)

    def is_trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._trusted)


def parse_address(text: str) -> IPAddress | None:
    """An address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.

    IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, from dual-stack sockets) become IPv4 so
    that one client has one form. Anything else (`unknown`, `_hidden`, garbage) is None.
    """
    candidate = text.strip()
    if candidate.startswith("["):
        candidate = candidate[1 : candidate.find("]")] if "]" in candidate else ""
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
