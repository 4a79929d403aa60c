"""SPEC §3.7's WebSocket conversation, apart from the transport.

Client -> server: `{"type":"auth","token":…}` (first message, when the token is not in the
URL), `{"type":"subscribe","channels":[…]}`, `{"type":"unsubscribe","channels":[…]}`,
`{"type":"ping"}`. Server -> client: `notification` frames (see `notification_frame`),
`{"type":"pong"}`, `{"type":"subscribed"|"unsubscribed","channels":[…]}` acknowledgements, and
`{"type":"error","code":…,"message":…}`; an error never closes the socket.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tessera.features.notifications.domain.notification import Recipient
from tessera.shared.application.pubsub import Subscription

MAX_MESSAGE_BYTES = 64 * 1024  # a larger client message closes the socket with 1009
AUTH_DEADLINE_SECONDS = 5.0  # for the first-message `auth`, without a token in the URL
_Channels = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=16)
]


class Auth(msgspec.Struct, frozen=True, tag="auth", forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class Subscribe(msgspec.Struct, frozen=True, tag="subscribe", forbid_unknown_fields=True):
    channels: _Channels


class Unsubscribe(msgspec.Struct, frozen=True, tag="unsubscribe", forbid_unknown_fields=True):
    channels: _Channels


class Ping(msgspec.Struct, frozen=True, tag="ping"):
    pass


ClientMessage = Auth | Subscribe | Unsubscribe | Ping
_decoder = msgspec.json.Decoder(ClientMessage)


class _Reply(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=True):
    pass


class Pong(_Reply, frozen=True, tag="pong"):
    pass


class Subscribed(_Reply, frozen=True, tag="subscribed"):
    channels: list[str]


class Unsubscribed(_Reply, frozen=True, tag="unsubscribed"):
    channels: list[str]


class Error(_Reply, frozen=True, tag="error"):
    code: str
    message: str
    channels: list[str] | None = None


def error_frame(code: str, message: str, channels: list[str] | None = None) -> bytes:
    return msgspec.json.encode(Error(code, message, channels))


def decode(raw: str | bytes) -> ClientMessage | bytes:
    """The message, or the error frame answering a malformed one."""
    try:
        message: ClientMessage = _decoder.decode(raw)
    except msgspec.ValidationError as error:
        return error_frame("invalid_message", f"Not a valid message: {error}")
    except (msgspec.DecodeError, UnicodeDecodeError):  # the latter: bytes that are not UTF-8
        return error_frame("invalid_message", "Messages are JSON objects.")
    return message


def auth_token(raw: str | bytes) -> str | None:
    """The token of a first-message `auth`; None for anything else."""
    message = decode(raw)
    return message.token if isinstance(message, Auth) else None


class Conversation:
    """One authenticated socket: answers each client message, and subscribes its
    `subscription` only to the channels the reader may hear (its own `user.<id>`, its
    tenant's `tenant.<id>`, `global`). A request naming any other channel is refused whole:
    an error frame, nothing subscribed, so no data of that channel ever reaches the socket."""

    def __init__(self, reader: Recipient, subscription: Subscription) -> None:
        self._allowed = reader.channels()
        self._subscription = subscription
        self._channels: set[str] = set()

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def answer(self, raw: str | bytes) -> bytes:
        message = decode(raw)
        if isinstance(message, bytes):
            return message
        if isinstance(message, Ping):
            return msgspec.json.encode(Pong())
        if isinstance(message, Auth):
            return error_frame("already_authenticated", "This socket is authenticated already.")
        wanted = list(dict.fromkeys(message.channels))
        refused = [channel for channel in wanted if channel not in self._allowed]
        if refused:
            return error_frame(
                "channel_not_allowed",
                "You may subscribe only to your own user and tenant channels and to global.",
                refused,
            )
        if isinstance(message, Subscribe):
            new = [channel for channel in wanted if channel not in self._channels]
            if new:
                await self._subscription.add(*new)
            self._channels.update(wanted)
            return msgspec.json.encode(Subscribed(sorted(self._channels)))
        old = [channel for channel in wanted if channel in self._channels]
        if old:
            await self._subscription.remove(*old)
        self._channels.difference_update(wanted)
        return msgspec.json.encode(Unsubscribed(sorted(wanted)))
