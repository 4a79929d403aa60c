"""The interactive API docs in a real browser with the network cut off: every request that
is not to the server is blocked, and the page must still show the operations (SPEC §3.11:
served from assets shipped with the package, never a CDN)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Route

from tests.e2e.processes import RunningServer, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("docs"), {"LOG_LEVEL": "WARNING"}) as running:
        yield running


@pytest.mark.parametrize("path", ["/docs", "/schema"])
async def test_the_docs_render_every_operation_offline(
    browser: Browser, server: RunningServer, path: str
) -> None:
    blocked: list[str] = []
    violations: list[str] = []

    async def only_the_server(route: Route) -> None:
        if route.request.url.startswith(f"{server.url}/"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    context = await browser.new_context()
    await context.route("**/*", only_the_server)
    page = await context.new_page()
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    response = await page.goto(f"{server.url}{path}")
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    login = page.locator(".opblock-summary-path", has_text="/api/v1/auth/login")
    await login.first.wait_for(timeout=20_000)
    shown = await page.locator(".opblock").count()
    await context.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    operations = sum(
        1
        for item in paths.values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )
    assert shown == operations
    assert blocked == [], "the page asked another origin"
    assert violations == []
