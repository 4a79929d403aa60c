"""Redis as production runs it, started by the tests on free ports: Sentinel and Cluster.

- `SentinelRedis`: one primary, one replica and three `redis-server --sentinel` processes
  watching them (quorum 2), with a short `down-after-milliseconds`, so that a killed primary
  is replaced within a few seconds.
- `ClusterRedis`: three `redis-server --cluster-enabled yes` primaries joined by
  `redis-cli --cluster create` (no replicas).

The pytest fixtures `sentinel_redis` and `cluster_redis` start one of each per test
process (an xdist worker is one) on first use and stop them at its end; tests keep apart by
key prefix (`redis_for`). A test that kills a server starts a topology of its own.
`redis-server` and `redis-cli` are all they need (`.ci/run` installs both with Redis).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    RedisTopology,
    SentinelTopology,
    SingleTopology,
)
from tests import services
from tests.e2e.processes import free_port

SERVICE = "tessera"
"""The name the sentinels monitor the primary under."""
DOWN_AFTER_MS = 1000
"""How long a primary may be silent before a sentinel holds it down (production: 5-30 s)."""
PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent dies."""
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
"""Nothing on disk: these servers live for one test run."""
MODES = ("redis", "sentinel", "cluster")
"""Each Redis topology a contract suite runs against; `redis` is the single server."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        services.service_missing(name, name, FileNotFoundError(name))
    assert found is not None
    return found


def wait_until(what: str, ready: Callable[[], object], seconds: float = 15.0) -> None:
    """Poll `ready()` until it answers truthy (Redis errors count as not yet), or fail."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not ready within {seconds:.0f} s")
        time.sleep(0.05)


_PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def die_with_parent() -> None:
    """In the server's process, before it starts: on Linux, it is killed when the test
    process ends, however it ends (a hung test's is killed before fixtures stop anything)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


class _Process:
    """One `redis-server` (or sentinel) on a free port, logging into `folder`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.port = free_port()
        self.folder = folder / name
        self.folder.mkdir(parents=True)
        self.client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=2)
        """The test's own line to this server, for setting up and watching it."""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *arguments: str) -> None:
        """`redis-server` with `arguments` (a configuration file first, if any)."""
        command = [
            _binary("redis-server"),
            *arguments,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
        ]
        with (self.folder / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one C call, looked up before
            )
        wait_until(f"redis on port {self.port}", self.client.ping)

    @property
    def running(self) -> bool:
        return self._process is not None

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as a crashed machine."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None
        self.client.close()

    def stop(self) -> None:
        self.client.close()
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


class SentinelRedis:
    """A primary, its replica and three sentinels; `topology` is what Tessera is given."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="tessera-sentinel-"))
        self.primary = _Process(self._folder, "primary")
        self.replica = _Process(self._folder, "replica")
        self.sentinels = [_Process(self._folder, f"sentinel-{n}") for n in range(3)]

    @property
    def topology(self) -> SentinelTopology:
        addresses = tuple(("127.0.0.1", sentinel.port) for sentinel in self.sentinels)
        return SentinelTopology(addresses, SERVICE)

    def start(self) -> None:
        # A replica's first sync at once, not after the default 5 s wait for company.
        data = (*NO_PERSISTENCE, "--repl-diskless-sync-delay", "0")
        self.primary.start(*data)
        self.replica.start(*data, "--replicaof", "127.0.0.1", str(self.primary.port))
        wait_until("the replica's sync", lambda: self._link(self.replica) == "up")
        for sentinel in self.sentinels:
            config = sentinel.folder / "sentinel.conf"  # a sentinel rewrites its own file
            config.write_text(
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            sentinel.start(str(config), "--sentinel")
        # Sentinels find each other through hello messages every 2 s and the replica through
        # the primary's INFO; under a full test run a 15 s wait once ran out (all of one
        # worker's Sentinel contract tests then errored), so this one waits longer.
        wait_until("three sentinels that know each other", self._sentinels_agree, 45.0)

    def kill_primary(self) -> None:
        self.primary.kill()

    def wait_for_failover(self, seconds: float = 30.0) -> None:
        """Until every sentinel names the replica as the primary, and it acts as one."""

        def promoted() -> bool:
            addresses = [s.client.sentinel_get_master_addr_by_name(SERVICE) for s in self.sentinels]
            named = {int(a[1]) if isinstance(a, tuple) else None for a in addresses}
            info = self.replica.client.info("replication")
            return named == {self.replica.port} and info["role"] == "master"

        wait_until("the failover", promoted, seconds)

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.primary):
            process.stop()
        shutil.rmtree(self._folder, ignore_errors=True)

    @staticmethod
    def _link(replica: _Process) -> str:
        return str(replica.client.info("replication").get("master_link_status"))

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            state = sentinel.client.sentinel_master(SERVICE)
            if not isinstance(state, dict):
                return False
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True


class ClusterRedis:
    """Three primaries sharing the 16384 slots; `topology` names one of them."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="tessera-cluster-"))
        self.nodes = [_Process(self._folder, f"node-{n}") for n in range(3)]

    @property
    def topology(self) -> ClusterTopology:
        return ClusterTopology(f"redis://127.0.0.1:{self.nodes[0].port}/0")

    def start(self) -> None:
        for node in self.nodes:
            # The cluster bus on a port of its own: the default (port + 10000) may be taken.
            node.start(
                *NO_PERSISTENCE,
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(free_port()),
                "--cluster-config-file",
                str(node.folder / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
            )
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [
                _binary("redis-cli"),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        wait_until("the cluster", self._ready)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self._folder, ignore_errors=True)

    def wait_until_down(self) -> None:
        """Until the nodes still running hold the cluster failed (a lost node, no replica)."""
        wait_until("the cluster to fail", lambda: not self._ready(running_only=True))

    def _ready(self, *, running_only: bool = False) -> bool:
        nodes = [n for n in self.nodes if n.running] if running_only else self.nodes
        return all(node.client.cluster("INFO")["cluster_state"] == "ok" for node in nodes)


Topology = TypeVar("Topology", SentinelRedis, ClusterRedis)


@contextmanager
def started(topology: Topology) -> Iterator[Topology]:
    """`topology` started, and stopped on the way out however the block ends."""
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


@pytest.fixture(scope="session")
def sentinel_redis() -> Iterator[SentinelRedis]:
    with started(SentinelRedis()) as topology:
        yield topology


@pytest.fixture(scope="session")
def cluster_redis() -> Iterator[ClusterRedis]:
    with started(ClusterRedis()) as topology:
        yield topology


@asynccontextmanager
async def redis_for(
    request: pytest.FixtureRequest, mode: str
) -> AsyncIterator[tuple[RedisTopology, str]]:
    """The topology `mode` names (see `MODES`) and a key prefix of the test's own; on the
    single server (shared with other runs) the prefix's keys are deleted afterwards."""
    if mode == "redis":
        async with services.redis_namespace() as prefix:
            yield SingleTopology(services.TEST_REDIS_URL), prefix
        return
    fixture = {"sentinel": "sentinel_redis", "cluster": "cluster_redis"}[mode]
    started: SentinelRedis | ClusterRedis = request.getfixturevalue(fixture)
    yield started.topology, f"test:{uuid.uuid4().hex[:12]}:"


def settings_of(topology: RedisTopology) -> dict[str, str]:
    """The settings (as `settings_for` takes them) that name `topology`."""
    if isinstance(topology, SentinelTopology):
        sentinels = ",".join(f"{host}:{port}" for host, port in topology.sentinels)
        return {"redis_sentinels": sentinels, "redis_sentinel_service": topology.service}
    if isinstance(topology, ClusterTopology):
        return {"redis_cluster_url": topology.url}
    return {"redis_url": topology.url}
