"""Resolve a webhook URL and check every address it resolves to (SPEC §3.8, SSRF)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from tessera.features.webhooks.application.ports import HostResolver
from tessera.features.webhooks.domain.targets import (
    CheckedTarget,
    UnsafeTarget,
    check_address,
    parse_ip,
    parse_target_url,
)


class SystemResolver:
    """`HostResolver` through the event loop's `getaddrinfo` (the system's resolver)."""

    async def addresses(self, host: str, port: int) -> Sequence[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError):
            return []
        return [str(sockaddr[0]) for _family, _type, _proto, _canon, sockaddr in infos]


async def resolve_checked(
    url: str, *, allow_private: bool = False, resolver: HostResolver | None = None
) -> CheckedTarget:
    """Check the URL's shape, resolve its host, and refuse if ANY address is refused.

    Refusing when any one address is private (not only the first) means a name with both a
    public and a private record cannot be used to reach the private one. Raises
    `UnsafeTarget` (field `url`) naming the rule, including when the name does not resolve.
    """
    target = parse_target_url(url)
    literal = parse_ip(target.host)
    if literal is not None:
        check_address(literal, allow_private=allow_private)
        return CheckedTarget(target.url, target.host, target.port, (str(literal),))
    found = await (resolver or SystemResolver()).addresses(target.host, target.port)
    addresses: list[str] = []
    for text in found:
        address = parse_ip(text)
        if address is None:
            raise UnsafeTarget(f"The webhook URL's host resolved to an unusable address {text!r}.")
        check_address(address, allow_private=allow_private)
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise UnsafeTarget(f"The webhook URL's host {target.host!r} does not resolve.")
    return CheckedTarget(target.url, target.host, target.port, tuple(addresses))


class DnsTargetGuard:
    """`TargetGuard` over a `HostResolver`; `allow_private` is WEBHOOK_ALLOW_PRIVATE_TARGETS."""

    def __init__(self, resolver: HostResolver, *, allow_private: bool) -> None:
        self._resolver, self._allow_private = resolver, allow_private

    async def check(self, url: str) -> CheckedTarget:
        return await resolve_checked(
            url, allow_private=self._allow_private, resolver=self._resolver
        )
