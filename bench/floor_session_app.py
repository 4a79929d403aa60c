"""The floor of a route that makes one Redis round trip per request: a bare Litestar app
whose `GET /me` does the Redis work any app must do for `GET /api/v1/users/me` under the
SPEC, and nothing else.

Per request, one Lua script through redis-py's own client (`Redis.register_script`, its
default connection pool): count the request in the caller's rate-limit counter (`INCR`, the
window set on the first hit) and read the caller's cached profile under Tessera's own
`profile_key`. It answers Tessera's envelope with that profile (`msgspec.Raw`, spliced as
stored; null when the cache has none, which Tessera's next `/users/me` of that user
refills). The caller is the `sub` of the bearer token's payload,
read without checking the signature; there is no session check, idle-expiry slide, tenant,
role, request id, security header, rate-limit header or middleware: the ratio of Tessera to
this floor is what those cost on top of the round trip both make.

Settings: `FLOOR_REDIS_URL` and `FLOOR_REDIS_KEY_PREFIX` (Tessera's `REDIS_KEY_PREFIX`).
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException
from redis.asyncio import Redis

from tessera.features.identity.application.accounts import profile_key

COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('GET', KEYS[2])}
"""
WINDOW_MS = 60_000
_STATE: dict[str, Any] = {}


async def _open() -> None:
    client = Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    _STATE["client"] = client
    _STATE["script"] = client.register_script(COUNT_AND_READ)
    _STATE["prefix"] = os.environ.get("FLOOR_REDIS_KEY_PREFIX", "")


async def _close() -> None:
    await _STATE.pop("client").aclose()


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@get("/me")
async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user_id = _subject(request.headers.get("authorization", ""))
    prefix = _STATE["prefix"]
    keys = [f"{prefix}ratelimit:api:{{{user_id}}}", prefix + profile_key(user_id)]
    _count, profile = await _STATE["script"](keys=keys, args=[WINDOW_MS])
    return {
        "status": "success",
        "data": None if profile is None else msgspec.Raw(profile),
        "meta": {
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "request_id": f"req-{secrets.token_hex(16)}",
        },
    }


def _subject(authorization: str) -> str:
    """The `sub` claim of a bearer JWT's payload, unchecked."""
    try:
        payload = authorization.partition(" ")[2].split(".")[1]
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, KeyError, TypeError, ValueError, msgspec.DecodeError):
        raise NotAuthorizedException("a bearer JWT is required") from None


app = Litestar(route_handlers=[health, me], on_startup=[_open], on_shutdown=[_close])
