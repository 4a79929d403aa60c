"""Resolve a webhook URL and check every address it resolves to (SPEC §3.8, SSRF)."""

from __future__ import annotations

import asyncio
import socket

from tessera.features.webhooks.domain.targets import (
    CheckedTarget,
    UnsafeTarget,
    check_address,
    parse_ip,
    parse_target_url,
)


async def resolve_checked(url: str, *, allow_private: bool = False) -> CheckedTarget:
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
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise UnsafeTarget(f"The webhook URL's host {target.host!r} does not resolve.") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        text = str(sockaddr[0])
        address = parse_ip(text)
        if address is None:
            raise UnsafeTarget(f"The webhook URL's host resolved to an unusable address {text!r}.")
        check_address(address, allow_private=allow_private)
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise UnsafeTarget(f"The webhook URL's host {target.host!r} does not resolve.")
    return CheckedTarget(target.url, target.host, target.port, tuple(addresses))
