"""A Redis Cluster of the tests' own, and a watch on the hash slots each script touches.

A cluster refuses a command whose declared keys (a script's KEYS) lie in several hash slots,
but Redis 7.0 lets a script reach any key its node serves: a key a script names from data (a
session id read from an index) in another slot of the same node goes through, and fails only
once that slot lives on another node. `SlotWatch` therefore reads every node's MONITOR stream,
takes each EVALSHA with the commands its script ran (`COMMAND GETKEYS` names their keys) and
computes every key's slot with redis-py's `redis.crc.key_slot`.

`ThreeNodeCluster`: three `redis-server --cluster-enabled yes` primaries on free ports, joined
by `redis-cli --cluster create`, no persistence; `ClusterCommands` lets a store that takes a
`CommandBatcher` talk to it.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio.client import Monitor
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError, ResponseError

from tessera.shared.adapters.redis_batching import Arg
from tests import services

BUS_OFFSET = 10000
"""A node's cluster bus listens this much above its port."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        services.service_missing(name, name, FileNotFoundError(name))
    assert found is not None
    return found


class ThreeNodeCluster:
    def __init__(self, folder: Path) -> None:
        self._server, self._cli = _binary("redis-server"), _binary("redis-cli")
        self._folder = folder
        self.ports = [_cluster_port() for _ in range(3)]
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            log = (self._folder / f"redis-{port}.log").open("ab")
            options = ["--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                       "--cluster-config-file", f"nodes-{port}.conf", "--save", "",
                       "--appendonly", "no", "--dir", str(self._folder)]  # fmt: skip
            started = subprocess.Popen([self._server, *options], stdout=log, stderr=log)
            self._processes.append(started)
        _wait_for(lambda: all(self._node(port).ping() for port in self.ports))
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [self._cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        _wait_for(lambda: all(self._ok(port) for port in self.ports))

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes = []

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_connect_timeout=0.5)

    def _ok(self, port: int) -> bool:
        with self._node(port) as node:
            return bool(node.cluster("INFO")["cluster_state"] == "ok")


def _cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too."""
    while True:
        port = random.randint(20000, 55535)
        try:
            for candidate in (port, port + BUS_OFFSET):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _wait_for(ready: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the Redis Cluster did not come up")
        time.sleep(0.05)


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


class ClusterCommands:
    """The `CommandBatcher` surface a store uses (`execute`, `script`), on a cluster client,
    one command at a time: the tests' stand-in for a batcher that speaks to a cluster."""

    def __init__(self, client: RedisCluster) -> None:
        self._client = client

    def execute(self, *command: Arg) -> Awaitable[Any]:
        return self._client.execute_command(*command)

    def script(self, source: str) -> Callable[..., Awaitable[Any]]:
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

        async def run(*, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
            try:
                return await self._client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            except NoScriptError:  # this node has not seen it: EVAL loads it there
                return await self._client.execute_command("EVAL", source, len(keys), *keys, *args)

        return run
