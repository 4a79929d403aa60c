"""The WebSocket conversation without a socket: what each client message gets, and which
channels a reader can ever hear."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from tessera.features.notifications.application.socket_protocol import (
    Conversation,
    auth_token,
)
from tessera.features.notifications.domain.notification import Recipient
from tessera.shared.adapters.memory_pubsub import InMemoryPubSub
from tessera.shared.application.pubsub import Subscription

ANN = Recipient(uuid.uuid4(), uuid.uuid4())
OWN = [f"user.{ANN.user_id}", f"tenant.{ANN.tenant_id}", "global"]


async def reply(conversation: Conversation, message: object) -> dict[str, object]:
    raw = message if isinstance(message, str) else msgspec.json.encode(message)
    decoded: dict[str, object] = msgspec.json.decode(await conversation.answer(raw))
    return decoded


async def next_message(subscription: Subscription) -> tuple[str, bytes] | None:
    """The next queued message, or None when none is waiting."""
    try:
        return await asyncio.wait_for(anext(aiter(subscription)), 0.05)
    except TimeoutError:
        return None


async def test_ping_gets_pong() -> None:
    async with InMemoryPubSub().subscribe() as subscription:
        assert await reply(Conversation(ANN, subscription), {"type": "ping"}) == {"type": "pong"}


async def test_the_readers_own_channels_are_subscribed_and_heard() -> None:
    pubsub = InMemoryPubSub()
    async with pubsub.subscribe() as subscription:
        conversation = Conversation(ANN, subscription)
        answer = await reply(conversation, {"type": "subscribe", "channels": [*OWN, "global"]})
        assert answer == {"type": "subscribed", "channels": sorted(OWN)}
        await pubsub.publish(f"tenant.{ANN.tenant_id}", b"hello")
        assert await next_message(subscription) == (f"tenant.{ANN.tenant_id}", b"hello")
        left = await reply(conversation, {"type": "unsubscribe", "channels": ["global"]})
        assert left == {"type": "unsubscribed", "channels": ["global"]}
        await pubsub.publish("global", b"gone")
        assert await next_message(subscription) is None


@pytest.mark.parametrize(
    "channels",
    [
        [f"user.{uuid.uuid4()}"],
        [f"tenant.{uuid.uuid4()}"],
        ["global", "user.1"],
        ["internal.sessions.revoked"],
        [f"user.{ANN.user_id} "],
    ],
    ids=["other-user", "other-tenant", "mixed", "internal", "padded"],
)
async def test_any_other_channel_is_an_error_and_nothing_is_subscribed(
    channels: list[str],
) -> None:
    pubsub = InMemoryPubSub()
    async with pubsub.subscribe() as subscription:
        conversation = Conversation(ANN, subscription)
        answer = await reply(conversation, {"type": "subscribe", "channels": channels})
        assert answer["type"] == "error"
        assert answer["code"] == "channel_not_allowed"
        assert conversation.channels == frozenset()
        for channel in [*channels, "global"]:
            await pubsub.publish(channel, b"secret")
        assert await next_message(subscription) is None


@pytest.mark.parametrize(
    "raw",
    [
        "{nope",
        "[]",
        "42",
        '{"type": "dance"}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "channels": "global"}',
        '{"no": "type"}',
    ],
    ids=[
        "broken",
        "array",
        "number",
        "unknown-type",
        "no-channels",
        "channels-not-a-list",
        "no-type",
    ],
)
async def test_a_malformed_message_is_answered_with_an_error(raw: str) -> None:
    async with InMemoryPubSub().subscribe() as subscription:
        answer = await reply(Conversation(ANN, subscription), raw)
    assert answer["type"] == "error"
    assert answer["code"] == "invalid_message"


async def test_auth_once_authenticated_is_an_error() -> None:
    async with InMemoryPubSub().subscribe() as subscription:
        answer = await reply(Conversation(ANN, subscription), {"type": "auth", "token": "t"})
    assert answer["code"] == "already_authenticated"


def test_only_an_auth_message_carries_a_token() -> None:
    assert auth_token('{"type": "auth", "token": "abc"}') == "abc"
    for other in ('{"type": "ping"}', '{"type": "auth"}', '{"type": "auth", "token": ""}', "x"):
        assert auth_token(other) is None
