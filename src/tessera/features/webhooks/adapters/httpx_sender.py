"""`WebhookSender` on httpx, connecting only to addresses the SSRF guard checked.

The request URL carries the checked IP address instead of the host name, so nothing
resolves the name again (a DNS answer that changed since the check, DNS rebinding, is never
used); the original host goes in the `Host` header and, for https, in the TLS SNI and the
certificate check (httpcore's `sni_hostname` request extension). Each attempt gets a client
of its own, so no connection made for one host is ever reused for another name on the same
address; the TLS context (and its CA bundle) is built once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

import httpx

from tessera.features.webhooks.application.ports import Response
from tessera.features.webhooks.domain.targets import CheckedTarget

TIMEOUT_SECONDS = 15.0


class HttpxWebhookSender:
    def __init__(
        self, *, timeout: float = TIMEOUT_SECONDS, tls: ssl.SSLContext | None = None
    ) -> None:
        self._timeout = timeout
        self._tls = tls if tls is not None else ssl.create_default_context()

    async def post(
        self, target: CheckedTarget, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        """Each address in turn while connections are refused; one deadline for it all."""
        error = "no address to connect to"
        try:
            async with asyncio.timeout(self._timeout):
                for address in target.addresses:
                    try:
                        return await self._post_to(address, target, body, headers)
                    except httpx.ConnectError as refused:
                        error = f"cannot connect: {_reason(refused)}"
        except TimeoutError:
            return Response(None, error=f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as failed:
            return Response(None, error=f"{type(failed).__name__}: {_reason(failed)}")
        return Response(None, error=error)

    async def _post_to(
        self, address: str, target: CheckedTarget, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        url = httpx.URL(target.url)
        pinned = url.copy_with(host=address)
        sent = {**headers, "host": url.netloc.decode("ascii")}
        # the ASCII (IDNA) form: what TLS sends and what the certificate names
        sni = url.raw_host.decode("ascii")
        extensions = {"sni_hostname": sni} if url.scheme == "https" else {}
        async with httpx.AsyncClient(
            verify=self._tls,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self._timeout),
        ) as client:
            request = client.build_request(
                "POST", pinned, content=body, headers=sent, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the body is not needed: status and Retry-After are
            return Response(response.status_code, retry_after=response.headers.get("retry-after"))


def _reason(error: Exception) -> str:
    return (str(error) or type(error).__name__)[:200]
