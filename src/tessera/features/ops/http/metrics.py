"""`GET /metrics`: Prometheus text of every server worker (SPEC §3.11)."""

from __future__ import annotations

from litestar import Response, get

from tessera.features.ops.application.ports import MetricsReport
from tessera.shared.http.di import FromDishka, inject

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@get(
    "/metrics",
    media_type=PROMETHEUS_TEXT,
    tags=["health"],
    summary="Prometheus metrics: HTTP traffic, jobs run in this process, connection pools.",
)
@inject
async def metrics(report: FromDishka[MetricsReport]) -> Response[bytes]:
    return Response(report.render(), media_type=without_charset(report.content_type))


def without_charset(content_type: str) -> str:
    """Litestar adds `; charset=utf-8` to every `text/` type itself: say it once."""
    parts = [part.strip() for part in content_type.split(";")]
    return "; ".join(part for part in parts if not part.lower().startswith("charset="))
