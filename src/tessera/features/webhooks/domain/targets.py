"""Which webhook target URLs and addresses may be called (SPEC §3.8, SSRF).

Two checks, both pure: `parse_target_url` (the URL's shape) and `address_refusal` (whether
one resolved IP address is public). The resolving adapter (`adapters/ssrf_guard.py`) applies
the second to EVERY address a name resolves to and hands back the checked addresses, so the
sender connects to one of them rather than resolving again (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tessera.shared.domain.errors import InvalidInput

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = ipaddress.ip_address("169.254.169.254")


def _within(cidr: str) -> Callable[[IPAddress], bool]:
    network = ipaddress.ip_network(cidr)
    return lambda address: address.version == network.version and address in network


# Checked in order; the first that matches names the rule in the error.
_RULES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("cloud metadata (169.254.169.254)", lambda a: a == _METADATA),
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("private (10.0.0.0/8)", _within("10.0.0.0/8")),
    ("private (172.16.0.0/12)", _within("172.16.0.0/12")),
    ("private (192.168.0.0/16)", _within("192.168.0.0/16")),
    ("carrier-grade NAT (100.64.0.0/10)", _within("100.64.0.0/10")),
    ("unique-local (fc00::/7)", _within("fc00::/7")),
    ("reserved", lambda a: a.is_reserved),
    ("not a public address", lambda a: a.is_private or not a.is_global),
)


class UnsafeTarget(InvalidInput):
    """A webhook URL is malformed or points somewhere the server must not call."""

    default_message = "The webhook URL is not allowed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="url")


@dataclass(frozen=True, slots=True)
class TargetUrl:
    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL and the addresses its host resolved to, every one of them checked.

    The sender connects to one of `addresses` (sending `Host: host`), never re-resolving.
    """

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_target_url(url: str) -> TargetUrl:
    """The URL's shape: http/https, no credentials, a host, a port in 1-65535."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise UnsafeTarget("The webhook URL cannot be parsed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeTarget("The webhook URL must use http or https.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeTarget("The webhook URL must not contain credentials.")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeTarget("The webhook URL must have a host.")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeTarget("The webhook URL's port must be between 1 and 65535.") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise UnsafeTarget("The webhook URL's port must be between 1 and 65535.")
    return TargetUrl(url=url.strip(), scheme=scheme, host=host, port=port)


def parse_ip(text: str) -> IPAddress | None:
    """The address if `text` is an IP literal (IPv6 zone ids allowed), else None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` may not be called (a rule name), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            reason = address_refusal(embedded)
            return None if reason is None else f"{reason} (IPv4 embedded in IPv6)"
    return next((name for name, refused in _RULES if refused(address)), None)


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    """Raise `UnsafeTarget` naming the rule unless `address` is public or private is allowed."""
    if allow_private:
        return
    reason = address_refusal(address)
    if reason is not None:
        raise UnsafeTarget(
            f"The webhook URL's address {address} is not allowed: {reason}. The server's "
            "operator can allow such targets (for development) with "
            "WEBHOOK_ALLOW_PRIVATE_TARGETS=true."
        )
