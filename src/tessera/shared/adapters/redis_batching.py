"""Automatic pipelining: the Redis commands issued during one event-loop turn go as one batch.

Under load many requests wait on Redis at once (the rate-limit counter, the session touch,
the cached profile). Sent one by one, each command pays in Python for a pool checkout, a
socket write, a read and a timeout; sent together those are paid once per batch, and Redis
answers them in one go. ioredis calls this auto-pipelining.

Only redis-py's public connection API is used: a batch is packed by hiredis
(`hiredis.pack_command`, in C), written with `send_packed_command` and its replies read with
`read_response`, under one deadline of the batcher's own for the whole batch. Give the
batcher a client whose pool has no socket timeout (`connect_redis(url,
socket_timeout=None)`): redis-py then neither starts a task per write (`asyncio.wait_for`)
nor a timeout per reply, and the batcher's deadline bounds both. A client's own pipeline
costs about four times as much CPU per command (`bench/` and decision record 0004).

The batcher keeps the connections it used (as many as batches were ever in flight at once,
usually one or two) instead of checking one out of the pool per batch: the checkout's
condition, lock and readiness probe cost more than the batch itself. A connection that
fails is disconnected and handed back to the pool, which reconnects it on its next use; a
batch whose kept connection turns out closed before any reply (Redis restarted, or closed
an idle client) is sent once more on a fresh one, as the client's own `reconnect_once`
retry does for a single command.

Nothing waits for a batch to fill: the first command of a turn starts the batch's task,
whose first step, in the loop's next iteration, takes every command queued by then and
writes them (redis-py writes to the socket at once when it has no timeout to apply), so a
lone command goes out as soon as the code that issued it yields. (Scheduling a flush that
then starts a task would write one iteration later, behind every callback ready by then:
under load, about 4% of `/users/me`'s throughput.)

Replies are exactly what `Redis.execute_command` returns; a command's
error goes to its caller only; a connection failure goes to every caller of the batch, each
with its own copy of the error. A caller that is cancelled no longer waits, but a command
already queued is still sent.

Behind a Sentinel the pool connects to the primary the sentinels name, and a connection
whose server answers READONLY (a primary demoted by a failover) fails as a connection error
(redis-py's `SentinelManagedConnection` does this): that batch's callers get the error, and
the next batch connects to the new primary. A cluster has no one connection to pipeline on:
`ClusterBatcher` keeps the surface and sends each command through the cluster client.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tessera.shared.adapters.redis_client import RedisClient
from tessera.shared.application.event_loop import OneLoop

Arg = str | bytes | int | float
MAX_BATCH = 256
"""Commands per pipeline; a larger turn is split into several pipelines, sent together."""
DEFAULT_TIMEOUT = 5.0
"""Seconds for a batch's write and all its replies, when the client sets no socket timeout."""
Batch = Sequence[tuple[tuple[Arg, ...], asyncio.Future[Any]]]


class CommandBatcher:
    """Sends `execute` calls of one event-loop turn to Redis in one pipeline."""

    def __init__(
        self, client: Redis, *, timeout: float | None = None, max_batch: int = MAX_BATCH
    ) -> None:
        self._pool = client.connection_pool
        configured = self._pool.connection_kwargs.get("socket_timeout")
        self._prepare(client, timeout or (float(configured) if configured else None), max_batch)
        self._callbacks: dict[Arg, Callable[[Any], Any] | None] = {}
        self._kept: list[AbstractConnection] = []

    def _prepare(self, client: RedisClient, timeout: float | None, max_batch: int) -> None:
        self._client = client
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._max_batch = max_batch
        self._pending: list[tuple[tuple[Arg, ...], asyncio.Future[Any]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop = OneLoop("The Redis command batcher")  # its flush resolves the replies

    @property
    def client(self) -> RedisClient:
        return self._client

    def execute(self, *command: Arg) -> asyncio.Future[Any]:
        """`Redis.execute_command(*command)`, batched with the other commands of this turn:
        await the future for the reply. Queued at once, so the order of calls is the order
        Redis runs them in."""
        loop = self._loop.check()
        reply: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, reply))
        if len(self._pending) == 1:
            self._start(self._send_turn())
        return reply

    def script(self, source: str) -> Script:
        """A Lua script to `run`: its source and SHA-1, computed once."""
        return Script(source)

    async def run(
        self, script: Script, *, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()
    ) -> Any:
        """`EVALSHA` of `script`, batched like any command; loaded first on NOSCRIPT."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.execute(*command)
        except NoScriptError:
            await self.load_script(script.source)
            return await self.execute(*command)

    def load_script(self, source: str) -> Awaitable[Any]:
        """`SCRIPT LOAD source`, batched like any command."""
        return self.execute("SCRIPT", "LOAD", source)

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_turn(self) -> None:
        """The commands queued during the turn that started this task, in batches of at most
        `max_batch` (the first sent by this task, any other by a task of its own)."""
        pending, self._pending = self._pending, []
        size = self._max_batch
        for start in range(size, len(pending), size):
            self._start(self._send(pending[start : start + size]))
        await self._send(pending[:size])

    async def _send(self, batch: Batch) -> None:
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
            if isinstance(value, BaseException):
                reply.set_exception(value)
            else:
                reply.set_result(value)

    async def _replies(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        """One reply per command, a command's error as its reply; raises if the connection
        fails or Redis does not answer within the deadline."""
        payload = b"".join(map(hiredis.pack_command, commands))  # type: ignore[arg-type]
        while self._kept:
            kept = self._kept.pop()
            if not kept.is_connected:
                await self._pool.release(kept)
                continue
            try:
                return await self._exchange(kept, payload, commands)
            except _ClosedBeforeReplying:
                break  # a fresh connection gets the batch once more
        connection: AbstractConnection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            return await self._exchange(connection, payload, commands)
        except _ClosedBeforeReplying as closed:
            raise closed.error from None

    async def _exchange(
        self, connection: AbstractConnection, payload: bytes, commands: Sequence[tuple[Arg, ...]]
    ) -> list[Any]:
        values: list[Any] = []
        try:
            async with asyncio.timeout(self._timeout):
                await connection.send_packed_command(payload, check_health=False)
                for _ in commands:
                    try:
                        values.append(await connection.read_response())
                    except ResponseError as error:
                        values.append(error)
        except BaseException as error:
            # Replies may be left unread on it: never use this connection again as is.
            await connection.disconnect(nowait=True)
            await self._pool.release(connection)
            if isinstance(error, TimeoutError):
                raise RedisTimeoutError("Redis did not answer in time.") from None
            if isinstance(error, RedisConnectionError) and not values:
                raise _ClosedBeforeReplying(error) from None
            raise
        self._kept.append(connection)
        return [
            self._shaped(command, value) for command, value in zip(commands, values, strict=True)
        ]

    def _shaped(self, command: tuple[Arg, ...], value: Any) -> Any:
        """The reply as `Redis.execute_command` shapes it (its response callbacks)."""
        if isinstance(value, ResponseError):
            return value
        name = command[0]
        try:
            callback = self._callbacks[name]
        except KeyError:
            callbacks = self._client.response_callbacks
            callback = self._callbacks[name] = callbacks.get(str(name).upper())
        return value if callback is None else callback(value)


class _ClosedBeforeReplying(Exception):
    """The connection failed before the first reply: nothing of the batch was answered."""

    def __init__(self, error: RedisConnectionError) -> None:
        super().__init__(str(error))
        self.error = error


class Script:
    """A Lua script's source and its SHA-1, as `CommandBatcher.run` sends it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class ClusterBatcher(CommandBatcher):
    """`CommandBatcher`'s surface and contract on a Redis Cluster, which has no one
    connection to pipeline on: a turn's batch goes as one pipeline of the cluster client
    (`RedisCluster.pipeline`), which groups the commands by the node holding their keys and
    sends each node's group on one of its connections, all nodes at once: about a third of
    the CPU a command of sending each through `execute_command` (decision record 0005).

    The cluster client follows MOVED and ASK redirections (a redirected command is sent
    again on its own) and re-reads the topology after a failover. Its connections do not
    wait when a node's are all busy (redis-py's async cluster client fails at once), so at
    most `max_in_flight` batches are out at a time (each holds one connection per node),
    the rest waiting their turn within the batch's deadline. A command the client refuses
    before sending (keys in several hash slots) would fail the whole pipeline: the batch is
    then sent command by command, one after another (that is a bug to fix, not a load to
    serve), so only its caller gets the error. A script is loaded on
    every primary (`SCRIPT LOAD` through the cluster client) the first time a node lacks
    it. Unlike the pipelining batcher, the commands of one turn run in no set order across
    nodes: a caller that needs one command before another awaits the first (no adapter
    issues dependent commands in one turn). Give it a client without socket timeout, as
    the pipelining batcher's: the deadline bounds the whole batch.
    """

    def __init__(
        self,
        client: RedisCluster,
        *,
        timeout: float | None = None,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = 64,
    ) -> None:
        self._prepare(client, timeout, max_batch)  # no pool or kept connections to set up
        self._cluster = client
        self._slots = asyncio.Semaphore(max_in_flight)

    async def load_script(self, source: str) -> Any:
        async with self._slots:  # a connection to every primary
            return await self._cluster.script_load(source)

    async def _replies(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        try:
            async with self._slots, asyncio.timeout(self._timeout):  # layout read first
                try:
                    return await self._pipelined(commands)
                except RedisClusterException:  # refused before sending: keys across slots
                    return [await self._alone(command) for command in commands]
        except TimeoutError:
            raise RedisTimeoutError("Redis did not answer in time.") from None

    async def _pipelined(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        pipeline = self._cluster.pipeline(transaction=False)
        for command in commands:
            pipeline.execute_command(*command)
        return await pipeline.execute(raise_on_error=False)

    async def _alone(self, command: tuple[Arg, ...]) -> Any:
        """The command's reply, or its error as its reply."""
        try:
            return await self._cluster.execute_command(*command)
        except Exception as error:  # the caller's alone, as a pipeline reply is
            return error


def batcher_for(client: RedisClient, *, timeout: float | None = None) -> CommandBatcher:
    """The batcher of `client`'s topology: pipelined on a server or a Sentinel's primary,
    routed command by command on a cluster."""
    if isinstance(client, RedisCluster):
        return ClusterBatcher(client, timeout=timeout)
    return CommandBatcher(client, timeout=timeout)


__all__ = ["ClusterBatcher", "CommandBatcher", "Script", "batcher_for"]
