"""A real browser as the client: headless Chromium, a page on another origin, a real server.

The page (client.html) registers, logs in and reads `/users/me` across origins, so every
call goes through CORS (the bearer header forces a preflight); then it opens the WebSocket
and an admin publishes a notification that the page must receive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page

from tests.e2e.processes import free_port, running_server, tessera

HERE = Path(__file__).parent
ADMIN_EMAIL, ADMIN_PASSWORD = "root@example.com", "admin-pass-phrase-9"
USER_EMAIL, USER_PASSWORD = "browser@example.com", "browser-pass-phrase-9"


@contextmanager
def page_server() -> Iterator[str]:
    """client.html served from an origin of its own; its origin."""
    handler = partial(_QuietHandler, directory=str(HERE))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_a_browser_on_another_origin_signs_up_reads_its_profile_and_gets_a_notification(
    browser: Browser, tmp_path: Path
) -> None:
    with page_server() as page_origin:
        env = {
            "JWT_SECRET_KEY": "browser-test-secret-key-of-40-characters!",
            "CORS_ALLOW_ORIGINS": page_origin,
            "LOG_LEVEL": "WARNING",
        }
        created = tessera(
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
            "--full-name",
            "Root",
            cwd=tmp_path,
            env=env,
        )
        assert created.returncode == 0, created.stderr
        with running_server(tmp_path, env) as server:
            page = await browser.new_page()
            await page.goto(f"{page_origin}/client.html")
            user_id = await _sign_up_and_listen(page, server.url)
            await _publish_as_admin(server.url, title="Hello, browser")
            arrived = "received.some((m) => m.data.title === 'Hello, browser')"
            await page.wait_for_function(arrived, timeout=10_000)
            received = await page.evaluate("received")
    # The sign-in itself may be reported too (a security notification): the admin's is there.
    [hello] = [m for m in received if m["data"]["title"] == "Hello, browser"]
    assert hello["type"] == "notification"
    assert hello["channel"] == f"user.{user_id}"
    assert set(hello["data"]) >= {"id", "title", "body", "timestamp"}


async def _sign_up_and_listen(page: Page, api: str) -> str:
    """Sign up and in from the page, read the profile, subscribe; the user's id."""
    result = await page.evaluate(
        "([api, email, password]) => signUpAndIn(api, email, password)",
        [api, USER_EMAIL, USER_PASSWORD],
    )
    assert (result["registered"], result["loggedIn"], result["me"]["status"]) == (201, 200, 200)
    me = result["me"]["body"]["data"]
    assert me["email"] == USER_EMAIL
    # Cross-origin code may read only the response headers the server exposes.
    assert result["me"]["requestId"], "X-Request-ID is not exposed to other origins"
    channel = f"user.{me['user_id']}"
    await page.evaluate("([token, channel]) => listen(token, channel)", [result["token"], channel])
    return str(me["user_id"])


async def _publish_as_admin(api: str, *, title: str) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        token = login.json()["data"]["access_token"]
        bearer = {"authorization": f"Bearer {token}"}
        users = await client.get("/api/v1/users", params={"search": USER_EMAIL}, headers=bearer)
        [user] = [u for u in users.json()["data"] if u["email"] == USER_EMAIL]
        published = await client.post(
            "/api/v1/notifications",
            json={"user_id": user["user_id"], "title": title, "body": "sent by an admin"},
            headers=bearer,
        )
        assert published.status_code in (201, 202), published.text
