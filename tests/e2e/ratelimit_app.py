"""A small app around the real rate-limit middleware and Redis, for granian to serve.

`test_rate_limits_processes.py` runs it in two server processes with the same Redis key
prefix, configured like Tessera by `REDIS_URL`, `REDIS_KEY_PREFIX` and
`RATE_LIMIT_API_PER_MINUTE`.
"""

from __future__ import annotations

import os

from litestar import Litestar, get
from litestar.exceptions import HTTPException

from tessera.main.settings import load_settings
from tessera.shared.adapters.clock import SystemClock
from tessera.shared.adapters.redis_batching import batcher_for
from tessera.shared.adapters.redis_cache import RedisCache
from tessera.shared.adapters.redis_client import connect_redis
from tessera.shared.application.rate_limits import RateLimiter
from tessera.shared.domain.errors import DomainError
from tessera.shared.http.caller import CallerMiddleware
from tessera.shared.http.errors import (
    DOMAIN_ERROR_CODES,
    DomainErrorHandler,
    http_exception_handler,
    unhandled_exception_handler,
)


@get("/api/v1/probe")
async def probe() -> dict[str, int]:
    return {"pid": os.getpid()}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


def create() -> Litestar:
    settings = load_settings(dotenv_path=None)
    assert settings.redis is not None, "Redis is required (REDIS_URL or another topology)"
    client = connect_redis(settings.redis)
    limiter = RateLimiter(
        RedisCache(batcher_for(client), prefix=settings.redis_key_prefix), SystemClock()
    )

    async def close() -> None:
        await client.aclose()

    async def the_limiter() -> RateLimiter:
        return limiter

    return Litestar(
        route_handlers=[probe, health],
        middleware=[CallerMiddleware(None, the_limiter, settings)],  # everyone anonymous
        exception_handlers={
            DomainError: DomainErrorHandler(DOMAIN_ERROR_CODES),
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
        on_shutdown=[close],
        logging_config=None,
    )
