"""`/ws/notifications` (alias `/api/v1/ws/notifications`, SPEC §3.7): live notifications.

Close codes: 4401 without a valid access token of a live session (also when the first-message
`auth` does not arrive within the deadline); 1008 when the session ends while connected;
1009 for a client message over 64 KiB; 1013 when the socket fell too far behind its
notifications (reconnect and read `GET /notifications`); 1001 when the server shuts down;
1011 when a dependency failed. An `Origin` header not in `CORS_ALLOW_ORIGINS` (nor the
`PUBLIC_BASE_URL` origin) is refused before the handshake completes (HTTP 403).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from dishka import AsyncContainer
from litestar import WebSocket, websocket

from tessera.features.identity.application.authenticate import Authenticate
from tessera.features.notifications.application.live_sockets import LiveSockets
from tessera.features.notifications.application.socket_protocol import (
    AUTH_DEADLINE_SECONDS,
    MAX_MESSAGE_BYTES,
    Conversation,
    auth_token,
    error_frame,
)
from tessera.features.notifications.application.views import recipient
from tessera.shared.application.pubsub import PubSub, SubscriberTooSlow, Subscription
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import DependencyUnavailable, Unauthenticated
from tessera.shared.http.di import connection_container
from tessera.shared.http.input_guard import json_nesting_exceeds

logger = logging.getLogger("tessera.notifications")

UNAUTHORIZED, REVOKED, TOO_BIG, GOING_AWAY, FAILED, TOO_SLOW = 4401, 1008, 1009, 1001, 1011, 1013


@dataclass(frozen=True, slots=True)
class SocketConfig:
    allowed_origins: frozenset[str]  # lower-case `scheme://host[:port]`; "*" allows any
    max_json_depth: int  # a client message nested deeper is answered with an error frame
    auth_deadline_seconds: float = AUTH_DEADLINE_SECONDS
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def allows(self, origin: str | None) -> bool:
        """No `Origin` (not a browser) passes; a browser's must be listed."""
        if origin is None:
            return True
        return "*" in self.allowed_origins or origin.rstrip("/").lower() in self.allowed_origins


class _TooBig(Exception):
    pass


class _Gone(Exception):
    pass


class _TooDeep(Exception):
    pass


async def _receive(socket: WebSocket[Any, Any, Any], config: SocketConfig) -> str | bytes:
    message = await socket.receive()
    if message["type"] != "websocket.receive":
        raise _Gone()
    text, binary = message.get("text"), message.get("bytes")
    data: str | bytes = text if text is not None else binary or b""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > config.max_message_bytes:
        raise _TooBig()
    if json_nesting_exceeds(raw, config.max_json_depth):
        raise _TooDeep()  # the decoder would recurse as deep
    return data


class _Sender:
    """Replies and notifications come from two tasks: one frame at a time."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket, self._lock = socket, asyncio.Lock()

    async def close(self, code: int) -> None:
        async with self._lock:
            try:
                await self._socket.close(code=code)
            except Exception:  # the client may be gone already
                logger.info("notification socket close not sent", exc_info=True)

    async def send(self, frame: bytes) -> None:
        async with self._lock:
            try:
                await self._socket.send_data(frame.decode(), mode="text")
            except Exception as error:  # the connection is gone, whatever the server says
                raise _Gone() from error


@websocket("/ws/notifications")
async def notifications_socket(socket: WebSocket[Any, Any, Any]) -> None:
    container: AsyncContainer = connection_container()
    config = await container.get(SocketConfig)
    if not config.allows(socket.headers.get("origin")):
        await socket.receive()  # the handshake; closing before accepting answers 403
        await socket.close(code=REVOKED, reason="origin not allowed")
        return
    await socket.accept()
    code: int | None = None
    try:
        caller = await _authenticate(socket, container, config)
        if caller is None:
            code = UNAUTHORIZED
        else:
            await _serve(socket, caller, container, config)
    except _TooBig:
        code = TOO_BIG
    except _Gone:
        return
    except DependencyUnavailable:
        logger.warning("notification socket failed: a dependency is down", exc_info=True)
        code = FAILED
    except Exception:
        logger.exception("notification socket failed")
        code = FAILED
    if code is not None:
        logger.info("notification socket closed", extra={"code": code})
        await _Sender(socket).close(code)


async def _authenticate(
    socket: WebSocket[Any, Any, Any], container: AsyncContainer, config: SocketConfig
) -> Principal | None:
    """The caller of `?token=` or of a first `auth` message, checked exactly as a bearer
    token over HTTP: a valid access token of a live session."""
    token = socket.query_params.get("token")
    if not token:
        try:
            async with asyncio.timeout(config.auth_deadline_seconds):
                token = auth_token(await _receive(socket, config))
        except (TimeoutError, _TooDeep):
            return None
    if not token:
        return None
    async with container() as request:
        authenticate = await request.get(Authenticate)
        try:
            caller = await authenticate.execute(token)
        except Unauthenticated:
            return None
    # A session that must enrol in MFA first is served by the enrolment routes only.
    return None if caller.needs_mfa_enrolment else caller


async def _serve(
    socket: WebSocket[Any, Any, Any],
    caller: Principal,
    container: AsyncContainer,
    config: SocketConfig,
) -> None:
    """Talk until the client leaves, or until a close code is due."""
    pubsub = await container.get(PubSub)
    live = await container.get(LiveSockets)
    sender, revoked = _Sender(socket), asyncio.Event()
    async with pubsub.subscribe() as subscription, live.watch(caller, revoked.set):
        conversation = Conversation(recipient(caller), subscription)
        reader = asyncio.create_task(_converse(socket, conversation, sender, config))
        try:
            code = await _first(reader, _forward(subscription, sender), _until(revoked))
        finally:  # granian sends a close frame only once no receive is pending: stop reading
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if code is not None:
            logger.info("notification socket closed", extra={"code": code})
            await sender.close(code)


async def _first(
    reader: asyncio.Task[int | None], *work: Coroutine[Any, Any, int | None]
) -> int | None:
    """The result of whichever finishes first; the others (but the reader) are cancelled."""
    others = [asyncio.create_task(one) for one in work]
    try:
        done, _ = await asyncio.wait([reader, *others], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
    return next(iter(done)).result()


async def _converse(
    socket: WebSocket[Any, Any, Any],
    conversation: Conversation,
    sender: _Sender,
    config: SocketConfig,
) -> int | None:
    too_deep = error_frame(
        "invalid_message", f"Messages nest at most {config.max_json_depth} levels."
    )
    try:
        while True:
            try:
                raw = await _receive(socket, config)
            except _TooDeep:
                await sender.send(too_deep)
            else:
                await sender.send(await conversation.answer(raw))
    except _TooBig:
        return TOO_BIG
    except _Gone:
        return None


async def _forward(subscription: Subscription, sender: _Sender) -> int | None:
    try:
        async for _, frame in subscription:
            await sender.send(frame)
    except SubscriberTooSlow:
        return TOO_SLOW
    except _Gone:
        return None
    return GOING_AWAY  # the pub/sub closed: the process is stopping


async def _until(revoked: asyncio.Event) -> int | None:
    await revoked.wait()
    return REVOKED
