"""The notifications WebSocket (SPEC §3.7) on a real server process: authentication by URL
and by first message, channel authorisation, ping, the size limit, malformed messages, the
Origin check, live notifications, and sockets closed when their session ends."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from tests.e2e.notifications.conftest import Server
from tests.e2e.notifications.sockets import (
    ALIAS_WS_PATH,
    ORIGIN,
    WS_PATH,
    ask,
    call,
    closed_with,
    connected,
    frame,
    login,
    notified,
    publish,
    signed_up,
    subscribed,
)

pytestmark = pytest.mark.slow
SIGN_IN = "New sign-in to your account"


def email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


@pytest.mark.parametrize("path", [WS_PATH, ALIAS_WS_PATH])
async def test_a_token_in_the_url_opens_the_socket_and_ping_gets_pong(
    embedded_server: Server, path: str
) -> None:
    account = await signed_up(embedded_server.url, email())
    async with connected(embedded_server.url, account["access_token"], path=path) as socket:
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}
        await subscribed(socket, f"user.{account['user_id']}")
        await publish(
            embedded_server.url,
            await _admin_token(embedded_server),
            user_id=account["user_id"],
            title="On either path",
        )
        assert (await notified(socket, "On either path"))["type"] == "notification"


async def _admin_token(server: Server) -> str:
    return str((await login(server.url, server.admin))["access_token"])


async def test_a_first_auth_message_opens_the_socket(embedded_server: Server) -> None:
    account = await signed_up(embedded_server.url, email())
    async with connected(embedded_server.url) as socket:
        await socket.send_str(json.dumps({"type": "auth", "token": account["access_token"]}))
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}
        again = await ask(socket, {"type": "auth", "token": account["access_token"]})
        assert again["type"] == "error"


@pytest.mark.parametrize(
    "opening",
    ["bad-url-token", "bad-auth-message", "ping-first", "refresh-token", "not-json"],
)
async def test_without_a_valid_access_token_the_socket_closes_with_4401(
    embedded_server: Server, opening: str
) -> None:
    account = await signed_up(embedded_server.url, email())
    url_token = "not.a.token" if opening == "bad-url-token" else None
    first = {
        "bad-auth-message": json.dumps({"type": "auth", "token": account["access_token"] + "x"}),
        "ping-first": json.dumps({"type": "ping"}),
        "refresh-token": json.dumps({"type": "auth", "token": account["refresh_token"]}),
        "not-json": "{not json",
    }.get(opening)
    async with connected(embedded_server.url, url_token) as socket:
        if first is not None:
            await socket.send_str(first)
        assert await closed_with(socket) == 4401


async def test_a_session_that_must_enrol_in_mfa_first_gets_no_socket(
    embedded_server: Server,
) -> None:
    address = email()
    account = await signed_up(embedded_server.url, address)
    switched = await call(
        embedded_server.url,
        "PATCH",
        f"/tenants/{account['tenant_id']}",
        account["access_token"],
        json={"mfa_required": True},
    )
    assert switched.status_code == 200, switched.text
    must_enrol = (await login(embedded_server.url, address))["access_token"]
    async with connected(embedded_server.url, must_enrol) as socket:
        assert await closed_with(socket) == 4401
    async with connected(embedded_server.url, account["access_token"]) as socket:
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}, "opened before it"


async def test_a_silent_socket_is_closed_with_4401_after_the_auth_deadline(
    embedded_server: Server,
) -> None:
    async with connected(embedded_server.url) as socket:
        assert await closed_with(socket, timeout=15) == 4401


async def test_another_users_or_tenants_channel_gets_an_error_and_nothing_else(
    embedded_server: Server,
) -> None:
    server = embedded_server.url
    eve, bob = await signed_up(server, email()), await signed_up(server, email())
    admin = (await login(server, embedded_server.admin))["access_token"]
    async with (
        connected(server, eve["access_token"]) as spy,
        connected(server, bob["access_token"]) as victim,
    ):
        for channel in (f"user.{bob['user_id']}", f"tenant.{bob['tenant_id']}", "admins"):
            refused = await ask(spy, {"type": "subscribe", "channels": [channel]})
            assert refused["type"] == "error"
            assert refused["channels"] == [channel]
        mixed = await ask(spy, {"type": "subscribe", "channels": ["global", "user.1"]})
        assert mixed["type"] == "error"  # refused whole: not even `global` was added
        await subscribed(victim, f"user.{bob['user_id']}", f"tenant.{bob['tenant_id']}")
        await publish(server, admin, user_id=bob["user_id"], title="for bob")
        await notified(victim, "for bob")  # jobs run concurrently: either order
        await publish(server, admin, tenant_id=bob["tenant_id"], title="for bob's tenant")
        await notified(victim, "for bob's tenant")
        # both pushes reached the victim already; the spy's next frame is its own pong
        assert await ask(spy, {"type": "ping"}) == {"type": "pong"}


async def test_a_published_notification_reaches_its_channel_as_the_spec_frames_it(
    embedded_server: Server,
) -> None:
    server = embedded_server.url
    ann = await signed_up(server, email())
    admin = (await login(server, embedded_server.admin))["access_token"]
    async with connected(server, ann["access_token"]) as socket:
        await subscribed(socket, f"user.{ann['user_id']}", "global")
        note = await publish(server, admin, user_id=ann["user_id"], title="Hi Ann", body="B")
        pushed = await notified(socket, "Hi Ann")
        assert pushed == {
            "type": "notification",
            "channel": f"user.{ann['user_id']}",
            "data": {
                "id": note["id"],
                "title": "Hi Ann",
                "body": "B",
                "timestamp": pushed["data"]["timestamp"],
            },
        }
        unsubscribed = await ask(socket, {"type": "unsubscribe", "channels": ["global"]})
        assert unsubscribed == {"type": "unsubscribed", "channels": ["global"]}
    inbox = await call(server, "GET", "/notifications", ann["access_token"])
    assert note["id"] in [item["id"] for item in inbox.json()["data"]]


async def test_a_new_sign_in_is_pushed_to_the_users_open_socket(embedded_server: Server) -> None:
    server = embedded_server.url
    address = email()
    ann = await signed_up(server, address)
    async with connected(server, ann["access_token"]) as socket:
        await subscribed(socket, f"user.{ann['user_id']}")
        await login(server, address, agent="another browser")
        pushed = await notified(socket, SIGN_IN)
        if "another browser" not in pushed["data"]["body"]:  # the first sign-in's, late
            pushed = await notified(socket, SIGN_IN)
        assert "another browser" in pushed["data"]["body"]


async def test_a_message_over_64_kib_closes_the_socket_with_1009(embedded_server: Server) -> None:
    account = await signed_up(embedded_server.url, email())
    async with connected(embedded_server.url, account["access_token"]) as socket:
        assert await ask(socket, {"type": "ping", "pad": "x" * 60_000}) == {"type": "pong"}
        await socket.send_str(json.dumps({"type": "ping", "pad": "x" * 70_000}))
        assert await closed_with(socket) == 1009


async def test_malformed_messages_get_an_error_and_the_socket_stays(
    embedded_server: Server,
) -> None:
    account = await signed_up(embedded_server.url, email())
    async with connected(embedded_server.url, account["access_token"]) as socket:
        deep = '{"type": "ping", "x": ' + "[" * 1000 + "]" * 1000 + "}"  # JSON_MAX_DEPTH
        for bad in ("{oops", "[]", '{"type": "dance"}', '{"type": "subscribe"}', deep):
            await socket.send_str(bad)
            reply = await frame(socket)
            assert reply["type"] == "error"
            assert reply["code"] == "invalid_message"
        await socket.send_bytes(b'{"type": "subscribe", "channels": ["\xff"]}')  # not UTF-8
        assert (await frame(socket))["code"] == "invalid_message"
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}


async def test_a_foreign_origin_is_refused_before_the_handshake(embedded_server: Server) -> None:
    account = await signed_up(embedded_server.url, email())
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with connected(
            embedded_server.url, account["access_token"], origin="https://evil.example"
        ):
            pass
    assert refused.value.status == 403
    async with connected(embedded_server.url, account["access_token"], origin=ORIGIN) as socket:
        assert await ask(socket, {"type": "ping"}) == {"type": "pong"}


async def test_logout_closes_that_sessions_sockets_with_1008_and_no_other(
    embedded_server: Server,
) -> None:
    server = embedded_server.url
    address = email()
    first = await signed_up(server, address)
    second = await login(server, address)
    async with (
        connected(server, first["access_token"]) as doomed,
        connected(server, second["access_token"]) as other,
    ):
        await subscribed(doomed, f"user.{first['user_id']}")
        out = await call(server, "POST", "/auth/logout", first["access_token"])
        assert out.status_code == 200, out.text
        assert await closed_with(doomed, timeout=5) == 1008  # pushed: the re-check is 30 s
        assert await ask(other, {"type": "ping"}) == {"type": "pong"}
        everywhere = await call(server, "POST", "/auth/logout-all", second["access_token"])
        assert everywhere.status_code == 200, everywhere.text
        assert await closed_with(other, timeout=5) == 1008
