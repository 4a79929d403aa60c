"""`GET /metrics` (SPEC §3.11): HTTP traffic by route template, pools, several workers."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from tessera.features.ops.adapters.prometheus import CONTENT_TYPE, FLUSH_SECONDS
from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.processes import running_server

Labels = tuple[tuple[str, str], ...]


def samples(text: str, name: str) -> dict[Labels, float]:
    """The samples called `name`, by their sorted labels."""
    found: dict[Labels, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(text: str, name: str, **labels: str) -> float:
    """The sum of `name` over the samples carrying all of `labels`."""
    wanted = set(labels.items())
    return sum(v for k, v in samples(text, name).items() if wanted <= set(k))


async def scrape(client: AsyncTestClient[Any]) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE  # its charset once, not twice
    return response.text


async def test_requests_are_counted_under_their_route_template_never_their_raw_path(
    sqlite_url: str,
) -> None:
    async with client_for(settings_for(database_url=sqlite_url)) as client:
        before = await scrape(client)
        assert (await client.get("/health/telepathy")).status_code == 404
        assert (await client.get("/health/cache")).status_code == 200  # in memory: always up
        after = await scrape(client)
    routes = {dict(labels)["route"] for labels in samples(after, "http_requests_total")}
    assert not routes & {"/health/telepathy", "/health/cache"}  # raw paths never become labels
    templates = {route for route in routes if route.startswith("/health/{")}
    assert templates == {"/health/{module}"}, templates
    # The registry is the process's own, shared with the tests that ran before in it.
    for status in ("404", "200"):
        added = count(after, "http_requests_total", route="/health/{module}", status=status)
        added -= count(before, "http_requests_total", route="/health/{module}", status=status)
        assert added >= 1
    histogram = "http_request_duration_seconds_count"
    assert count(after, histogram, route="/health/{module}", method="GET", status="200") >= 1


async def test_unrouted_requests_and_errors_are_counted(sqlite_url: str) -> None:
    async with client_for(settings_for(database_url=sqlite_url)) as client:
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/no/such/page")).status_code == 404
        assert (await client.get("/health")).status_code == 200
        after = await scrape(client)

    def added(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    assert added("http_requests_total", route="unmatched", status="404") == 3
    assert added("http_errors_total", route="unmatched", status="404") == 3
    assert added("http_requests_total", route="/health", status="200") == 1
    assert added("http_errors_total", route="/health") == 0


async def test_connection_pools_are_measured(sqlite_url: str) -> None:
    async with client_for(settings_for(database_url=sqlite_url)) as client:
        text = await scrape(client)
    states = {dict(labels)["state"] for labels in samples(text, "db_pool_connections")}
    assert states == {"checked_out", "idle"}


async def test_metrics_of_several_server_workers_are_added_up(tmp_path: Path) -> None:
    await services.check_postgres()
    await services.check_redis()
    async with services.throwaway_database() as url, services.redis_namespace() as prefix:
        await services.migrate(url)
        env = {
            "DATABASE_URL": await services.as_app_role(url),
            "REDIS_URL": services.TEST_REDIS_URL,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "DATA_DIR": str(tmp_path / "data"),
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        with running_server(tmp_path, env, workers=2) as server:
            # New connections, many at once, so both workers take some of them.
            async def one() -> int:
                async with httpx.AsyncClient(base_url=server.url) as client:
                    return (await client.get("/health")).status_code

            statuses = await asyncio.gather(*(one() for _ in range(60)))
            # Each worker hands its tally to the shared files every FLUSH_SECONDS.
            await asyncio.sleep(FLUSH_SECONDS + 0.5)
            counting = {path.name for path in (tmp_path / "metrics").glob("counter_*.db")}
            scrapes = []
            for _ in range(6):
                async with httpx.AsyncClient(base_url=server.url) as client:
                    scrapes.append((await client.get("/metrics")).text)
    assert statuses == [200] * 60
    assert len(counting) == 2, f"both workers answered requests: {counting}"
    # Whichever worker answers the scrape, it reports the requests of both (and the
    # readiness polls of running_server, which are /health requests too).
    totals = {count(text, "http_requests_total", route="/health") for text in scrapes}
    assert len(totals) == 1
    assert totals.pop() >= 60
