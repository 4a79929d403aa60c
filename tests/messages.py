"""Helpers for taskiq's messages in tests."""

from __future__ import annotations

from taskiq import AckableMessage


async def acked(message: AckableMessage) -> None:
    """Acknowledge `message`: taskiq's `ack` returns an awaitable or nothing, by broker."""
    pending = message.ack()
    if pending is not None:
        await pending
