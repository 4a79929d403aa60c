"""A watch on the hash slots each script touches, on the nodes of a Redis Cluster.

A cluster refuses a command whose declared keys (a script's KEYS) lie in several hash slots,
but Redis 7.0 lets a script reach any key its node serves: a key a script names from data (a
session id read from an index) in another slot of the same node goes through, and fails only
once that slot lives on another node. `SlotWatch` therefore reads every node's MONITOR stream,
takes each EVALSHA with the commands its script ran (`COMMAND GETKEYS` names their keys) and
computes every key's slot with redis-py's `redis.crc.key_slot`.
The cluster itself is `tests.redis_topologies.ClusterRedis`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.asyncio.client import Monitor
from redis.crc import key_slot
from redis.exceptions import ResponseError


@dataclass
class ScriptCall:
    """One script run: the keys it was given and every key it touched (those included)."""

    script: str
    declared: list[bytes]
    touched: list[bytes] = field(default_factory=list)

    def slots(self) -> set[int]:
        return {key_slot(key) for key in self.touched}


_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"')


class SlotWatch:
    """`async with SlotWatch(ports) as watch:` records what runs on those nodes; then
    `await watch.script_calls()` is every script run since, with the keys it touched."""

    def __init__(self, ports: Sequence[int]) -> None:
        self._nodes = [Redis(port=port) for port in ports]
        self._monitors: list[Monitor] = []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> SlotWatch:
        for node in self._nodes:
            self._monitors.append(await self._stack.enter_async_context(node.monitor()))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()
        for node in self._nodes:
            await node.aclose()

    async def script_calls(self) -> list[ScriptCall]:
        calls: list[ScriptCall] = []
        for node, monitor in zip(self._nodes, self._monitors, strict=True):
            current: ScriptCall | None = None
            for source, command in await self._lines_until_now(node, monitor):
                if source != b"lua":  # a script's own commands follow its EVALSHA at once
                    current = _script_call(command)
                    calls += [current] if current else []
                elif current is not None:
                    current.touched += await _keys_of(node, command)
        return calls

    async def _lines_until_now(
        self, node: Redis, monitor: Monitor
    ) -> list[tuple[bytes, list[bytes]]]:
        """Every command the node ran since the last call, as (source, arguments)."""
        marker = f"slot-watch-{uuid.uuid4().hex}".encode()
        await node.echo(marker)
        lines: list[tuple[bytes, list[bytes]]] = []
        while True:
            assert monitor.connection is not None
            raw = await monitor.connection.read_response()
            line = raw if isinstance(raw, bytes) else str(raw).encode()
            head, _, rest = line.partition(b"] ")
            command = [_unescaped(token) for token in _TOKEN.findall(rest)]
            if command[-1:] == [marker]:
                return lines
            lines.append((head.rsplit(b" ", 1)[-1], command))


def _script_call(command: list[bytes]) -> ScriptCall | None:
    name = command[0].upper() if command else b""
    if name not in (b"EVAL", b"EVALSHA"):
        return None
    script = command[1].decode()
    if name == b"EVAL":
        script = hashlib.sha1(command[1], usedforsecurity=False).hexdigest()
    declared = command[3 : 3 + int(command[2])]
    return ScriptCall(script, declared, list(declared))


_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def _unescaped(token: bytes) -> bytes:
    """An argument as MONITOR quotes it (`\\"`, `\\n`, `\\xHH`, ...), as it was sent."""

    def one(escape: re.Match[bytes]) -> bytes:
        code = escape[1]
        if len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _ESCAPES.get(code, code)

    return re.sub(rb"\\(x[0-9a-f]{2}|.)", one, token, flags=re.DOTALL)


async def _keys_of(node: Redis, command: list[bytes]) -> list[bytes]:
    try:
        keys = await node.command_getkeys(*command)
    except ResponseError:  # a command without keys
        return []
    return [key if isinstance(key, bytes) else key.encode() for key in keys]
