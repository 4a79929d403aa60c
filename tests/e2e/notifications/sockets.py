"""A WebSocket client for the notification tests (aiohttp's, which taskiq already brings),
and the HTTP calls around it, against servers running as separate processes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from tests.e2e.processes import tessera

PASSWORD = "correct horse battery"
ADMIN = "root@ops.test"
ORIGIN = "https://app.example.test"
WS_PATH = "/ws/notifications"  # at the root, as the seed documents it (SPEC §3.7)
ALIAS_WS_PATH = "/api/v1/ws/notifications"


def create_admin(cwd: Path, env: dict[str, str]) -> None:
    made = tessera(
        "create-admin",
        "--email",
        ADMIN,
        "--password",
        PASSWORD,
        "--full-name",
        "Root",
        cwd=cwd,
        env=env,
    )
    assert made.returncode == 0, made.stderr


async def login(base: str, email: str, *, agent: str = "tests") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"User-Agent": agent},
        )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def signed_up(base: str, email: str) -> dict[str, Any]:
    """A new account (its own tenant, as its tenant admin) and its first tokens, with the
    account's `user_id` and `tenant_id` added."""
    body = {"email": email, "password": PASSWORD, "full_name": "Someone", "terms_accepted": True}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        made = await http.post("/api/v1/auth/register", json=body)
        assert made.status_code == 201, made.text
    tokens = await login(base, email)
    return tokens | {key: made.json()["data"][key] for key in ("user_id", "tenant_id")}


async def call(base: str, method: str, path: str, token: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.request(
            method, f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **options
        )


async def publish(base: str, admin_token: str, **target: Any) -> dict[str, Any]:
    body = {"title": "Hello", "body": "From the tests."} | target
    response = await call(base, "POST", "/notifications", admin_token, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def ws_url(base: str, token: str | None = None, *, path: str = WS_PATH) -> str:
    url = base.replace("http://", "ws://") + path
    return url if token is None else f"{url}?token={token}"


@asynccontextmanager
async def connected(
    base: str, token: str | None = None, *, origin: str | None = None, path: str = WS_PATH
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    headers = {} if origin is None else {"Origin": origin}
    url = ws_url(base, token, path=path)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, autoping=False) as socket,
    ):
        yield socket


async def ask(socket: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> dict[str, Any]:
    await socket.send_str(json.dumps(message))
    return await frame(socket)


async def frame(socket: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> dict[str, Any]:  # noqa: ASYNC109
    message = await socket.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, (message.type, message.data, message.extra)
    found: dict[str, Any] = json.loads(message.data)
    return found


async def notified(socket: aiohttp.ClientWebSocketResponse, title: str) -> dict[str, Any]:
    """The next notification frame titled `title`; other notifications on the way are
    skipped (a sign-in's security notice may arrive whenever its job runs)."""
    while True:
        found = await frame(socket)
        assert found["type"] == "notification", found
        if found["data"]["title"] == title:
            return found


async def closed_with(socket: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> int | None:  # noqa: ASYNC109
    """The code of the server's close frame; frames before it are skipped. (The frame's,
    not `socket.close_code`: aiohttp says 1006 when the server hangs up before the
    client's answer to its close frame went out.)"""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = await socket.receive(timeout=left)
        if message.type == aiohttp.WSMsgType.CLOSE:
            return int(message.data)
        if message.type == aiohttp.WSMsgType.CLOSED:
            return socket.close_code
    raise AssertionError("the socket stayed open")


async def subscribed(socket: aiohttp.ClientWebSocketResponse, *channels: str) -> None:
    reply = await ask(socket, {"type": "subscribe", "channels": list(channels)})
    assert reply["type"] == "subscribed", reply
