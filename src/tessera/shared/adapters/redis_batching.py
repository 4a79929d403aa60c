"""Automatic pipelining: the Redis commands issued during one event-loop turn go as one batch.

Under load many requests wait on Redis at once (the rate-limit counter, the session touch,
the cached profile). Sent one by one, each command pays in Python for a pool checkout, a
socket write, a read and a timeout; sent together those are paid once per batch, and Redis
answers them in one go. ioredis calls this auto-pipelining. A batch is packed by hiredis
(in C, several times faster than redis-py's packer) and its replies are read under one
deadline, not one per reply.

Nothing waits for a batch to fill: the first command of a turn schedules the flush for the
end of that turn (`loop.call_soon`), so a lone command goes out as soon as the code that
issued it yields. Replies are
exactly what `Redis.execute_command` returns; a command's error goes to its caller only; a
connection failure goes to every caller of the batch, each with its own copy of the error.
A caller that is cancelled no longer waits, but a command already queued is still sent.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

Arg = str | bytes | int | float
MAX_BATCH = 256
"""Commands per pipeline; a larger turn is split into several pipelines, sent together."""


class CommandBatcher:
    """Sends `execute` calls of one event-loop turn to Redis in one pipeline."""

    def __init__(self, client: Redis, *, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._pending: list[tuple[tuple[Arg, ...], asyncio.Future[Any]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> Redis:
        return self._client

    async def execute(self, *command: Arg) -> Any:
        """`Redis.execute_command(*command)`, batched with the other commands of this turn."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, reply))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await reply

    def script(self, source: str) -> BatchedScript:
        return BatchedScript(self, source)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            task = asyncio.ensure_future(self._send(pending[start : start + self._max_batch]))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _send(self, batch: Sequence[tuple[tuple[Arg, ...], asyncio.Future[Any]]]) -> None:
        try:
            replies = await self._replies([command for command, _ in batch])
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

    async def _replies(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        """One reply per command, a command's error as its reply; raises if the connection
        fails or Redis does not answer within the client's socket timeout.

        What a pipeline does, without its per-command Python: the batch is packed in C
        (hiredis) and written at once, and its replies are read under one deadline."""
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(_pack(commands), check_health=False)
            async with asyncio.timeout(_read_timeout(connection)):
                return [await self._reply(connection, command) for command in commands]
        except BaseException:
            # Replies may be left unread on it: never hand this connection out again as is.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

    async def _reply(self, connection: AbstractConnection, command: tuple[Arg, ...]) -> Any:
        """The next reply, shaped as `Redis.execute_command` shapes it (response callbacks)."""
        try:
            value = await connection.read_response(timeout=math.inf)
        except ResponseError as error:
            return error
        callback = self._client.response_callbacks.get(str(command[0]).upper())
        return value if callback is None else callback(value)


def _pack(commands: Sequence[tuple[Arg, ...]]) -> bytes:
    # Floats as redis-py writes them (repr), so a command means the same either way.
    return b"".join(
        hiredis.pack_command(tuple(repr(a) if isinstance(a, float) else a for a in command))  # type: ignore[arg-type]
        for command in commands
    )


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
