"""Automatic pipelining: the Redis commands issued during one event-loop turn go as one batch.

Under load many requests wait on Redis at once (the rate-limit counter, the session touch,
the cached profile). Sent one by one, each command pays in Python for a pool checkout, a
socket write, a read and a timeout; sent together those are paid once per batch, and Redis
answers them in one go. ioredis calls this auto-pipelining. A batch is packed by hiredis
(in C, several times faster than redis-py's packer), and its replies are parsed by a hiredis
reader of the batch's own, fed straight from the connection's stream, under one deadline:
no per-reply coroutine, timeout or parser call of redis-py's.

The batcher keeps the connections it uses (as many as batches were ever in flight at once,
usually one or two) instead of checking one out of the client's pool per batch: redis-py's
checkout takes a condition, a lock, timeouts and a readiness probe of the socket, which
under load cost more than the batch itself. A kept connection is used again only if the
last batch read exactly its replies and the server has not closed it since; any failure
disconnects it and hands it back to the pool, which reconnects it on its next use.

Nothing waits for a batch to fill: the first command of a turn schedules the flush for the
end of that turn (`loop.call_soon`), so a lone command goes out as soon as the code that
issued it yields. The flush writes the batch then and there when a kept connection is free
(a task started for it would write one loop iteration later, after every other callback
ready by then: under load, a sizeable share of a request's wait); only the reading, and a
batch that needs a connection from the pool, wait for the batch's task. Replies are
exactly what `Redis.execute_command` returns; a command's error goes to its caller only; a
connection failure goes to every caller of the batch, each with its own copy of the error.
A caller that is cancelled no longer waits, but a command already queued is still sent.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError, ResponseError

from tessera.shared.application.event_loop import OneLoop

Arg = str | bytes | int | float
MAX_BATCH = 256
"""Commands per pipeline; a larger turn is split into several pipelines, sent together."""
READ_CHUNK = 64 * 1024
_CLOSED = "Connection closed by server."


class CommandBatcher:
    """Sends `execute` calls of one event-loop turn to Redis in one pipeline."""

    def __init__(self, client: Redis, *, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._pending: list[tuple[tuple[Arg, ...], asyncio.Future[Any]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._callbacks: dict[Arg, Callable[[Any], Any] | None] = {}
        self._kept: list[AbstractConnection] = []
        self._loop = OneLoop("The Redis command batcher")  # its flush resolves the replies

    @property
    def client(self) -> Redis:
        return self._client

    def execute(self, *command: Arg) -> asyncio.Future[Any]:
        """`Redis.execute_command(*command)`, batched with the other commands of this turn:
        await the future for the reply. Queued at once, so the order of calls is the order
        Redis runs them in."""
        loop = self._loop.check()
        reply: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, reply))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return reply

    def script(self, source: str) -> BatchedScript:
        return BatchedScript(self, source)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            batch = pending[start : start + self._max_batch]
            commands = [command for command, _ in batch]
            try:
                written_to = self._write_now(commands)
            except Exception:  # the batch's task meets the error again, and reports it
                written_to = None
            task = asyncio.ensure_future(self._send(batch, commands, written_to))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    def _write_now(self, commands: Sequence[tuple[Arg, ...]]) -> AbstractConnection | None:
        """The kept connection the batch was just written to; None when none is free and
        open (the batch's task then takes one and writes)."""
        if not self._kept or not _open(self._kept[-1]):
            return None
        _write(self._kept[-1], _pack(commands))
        return self._kept.pop()

    async def _send(
        self,
        batch: Sequence[tuple[tuple[Arg, ...], asyncio.Future[Any]]],
        commands: Sequence[tuple[Arg, ...]],
        written_to: AbstractConnection | None,
    ) -> None:
        try:
            replies = await self._replies(commands, written_to)
        except asyncio.CancelledError:
            for _, reply in batch:
                reply.cancel()
            raise
        except Exception as error:
            for _, reply in batch:
                if not reply.done():
                    reply.set_exception(copy.copy(error))
            return
        for (_, reply), value in zip(batch, replies, strict=True):
            if reply.done():
                continue
            if isinstance(value, Exception):
                reply.set_exception(value)
            else:
                reply.set_result(value)

    async def _replies(
        self, commands: Sequence[tuple[Arg, ...]], written_to: AbstractConnection | None
    ) -> list[Any]:
        """One reply per command, a command's error as its reply; raises if the connection
        fails or Redis does not answer within the client's socket timeout.

        What a pipeline does, without its per-command Python: the batch is packed in C
        (hiredis) and written at once (here, unless `_write_now` has), and its replies are
        read under one deadline."""
        connection = written_to or await self._connection()
        try:
            async with asyncio.timeout(_read_timeout(connection)):
                if written_to is None:
                    _write(connection, _pack(commands))
                values = await _read_replies(connection, len(commands))
        except BaseException:
            # Replies may be left unread on it: never use this connection again as is.
            await self._give_back(connection)
            raise
        self._kept.append(connection)
        replies = []
        for command, value in zip(commands, values, strict=True):
            # Shaped as `Redis.execute_command` shapes it (response callbacks).
            callback = None if isinstance(value, ResponseError) else self._callback(command[0])
            replies.append(value if callback is None else callback(value))
        return replies

    async def _connection(self) -> AbstractConnection:
        """A kept connection the server has not closed, else one from the pool."""
        while self._kept:
            connection = self._kept.pop()
            if _open(connection):
                return connection
            await self._give_back(connection)
        fresh: AbstractConnection = await self._client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        return fresh

    async def _give_back(self, connection: AbstractConnection) -> None:
        await connection.disconnect(nowait=True)
        await self._client.connection_pool.release(connection)

    def _callback(self, name: Arg) -> Callable[[Any], Any] | None:
        try:
            return self._callbacks[name]
        except KeyError:
            found = self._callbacks[name] = self._client.response_callbacks.get(str(name).upper())
            return found


def _open(connection: AbstractConnection) -> bool:
    """Whether the server has not closed the connection (as far as its stream has seen)."""
    stream = connection._reader  # see _write
    return stream is not None and not stream.at_eof()


def _write(connection: AbstractConnection, payload: bytes) -> None:
    """Hands `payload` (packed commands) to the connection's stream, which redis-py itself
    uses: its `send_packed_command` wraps every write in `asyncio.wait_for`, a task of its
    own. A failed write shows when the replies are read."""
    writer = connection._writer
    if writer is None:
        raise RedisConnectionError(_CLOSED)
    writer.write(payload)


async def _read_replies(connection: AbstractConnection, count: int) -> list[Any]:
    """The replies to the `count` commands last written, each error reply as its exception.
    redis-py's parser holds nothing between commands (every reply it read was a whole one it
    returned), so a reader of our own takes over. The caller sets the deadline."""
    stream, writer = connection._reader, connection._writer
    if stream is None or writer is None:
        raise RedisConnectionError(_CLOSED)
    reader = _reader_for(connection)
    values: list[Any] = []
    try:
        await writer.drain()
        while len(values) < count:
            value = reader.gets()
            if value is not False:
                values.append(value)
                continue
            chunk = await stream.read(READ_CHUNK)
            if not chunk:
                raise RedisConnectionError(_CLOSED)
            reader.feed(chunk)
    except OSError as error:
        raise RedisConnectionError(f"Error while talking to Redis: {error}") from error
    if reader.has_data():
        raise InvalidResponse("Redis sent more replies than commands.")
    return values


def _reader_for(connection: AbstractConnection) -> hiredis.Reader:
    encoder = connection.encoder
    if encoder.decode_responses:
        return hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error,
            encoding=encoder.encoding, errors=encoder.encoding_errors,
        )  # fmt: skip
    return hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)


def _pack(commands: Sequence[tuple[Arg, ...]]) -> bytes:
    # hiredis writes floats as redis-py does (their shortest repr), so a command means the
    # same either way.
    return b"".join(map(hiredis.pack_command, commands))  # type: ignore[arg-type]


def _read_timeout(connection: AbstractConnection) -> float | None:
    timeout = connection.socket_timeout
    return None if timeout is None else float(timeout)


class BatchedScript:
    """A Lua script run with EVALSHA through the batcher, loaded on first NOSCRIPT."""

    def __init__(self, batcher: CommandBatcher, source: str) -> None:
        self._batcher = batcher
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        command = ("EVALSHA", self._sha, len(keys), *keys, *args)
        try:
            return await self._batcher.execute(*command)
        except NoScriptError:
            await self._batcher.client.script_load(self._source)
            return await self._batcher.execute(*command)


__all__ = ["BatchedScript", "CommandBatcher"]
