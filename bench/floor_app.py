"""The floor: a bare Litestar app answering a constant `GET /health`, nothing else."""

from __future__ import annotations

from litestar import Litestar, get

_HEALTHY = {"status": "healthy"}


@get("/health")
async def health() -> dict[str, str]:
    return _HEALTHY


app = Litestar(route_handlers=[health])
