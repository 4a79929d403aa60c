"""deploy/compose.yaml's Redis under Sentinel, run for real: the commands of `redis-1`,
`redis-2` and the three sentinels (deploy/compose/redis.sh), each in a folder of its own
standing for its volume, with every compose name mapped to `localhost` and each port to a
free one. The compose healthchecks pass, a Tessera process configured as compose configures
it reaches the primary, and after a failover the roles survive a restart.

No Docker engine runs here: `redis-server` and `redis-cli` (as `.ci/run` installs them) run
the same script and the same Redis configuration the containers do."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tessera.main.settings import load_settings
from tests import services
from tests.deploy.tools import REDIS_SCRIPT, compose, keys
from tests.e2e.processes import free_port
from tests.redis_topologies import die_with_parent, wait_until

REDIS = ("redis-1", "redis-2", "sentinel-1", "sentinel-2", "sentinel-3")
SERVICE = "tessera"


def _wait(what: str, ready: Callable[[], object], seconds: float = 30.0) -> None:
    """A compose stack's processes take longer than the tests' own topologies."""
    wait_until(what, ready, seconds)


class ComposeRedis:
    """The five processes as compose starts them, `host:port` of compose mapped to
    `localhost` and a free port (`ports[name]`); `folder/name` is each one's volume."""

    def __init__(self, folder: Path, compose: dict[str, Any]) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            services.service_missing("redis-server", "redis-server", FileNotFoundError())
        self.folder = folder
        self.compose = compose
        self.ports = {name: free_port() for name in REDIS}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._clients: dict[str, redis.Redis] = {}

    def _map_ports(self, words: list[str]) -> list[str]:
        """A command's words, each compose name `localhost` and the port after it mapped."""
        mapped: list[str] = []
        previous = ""
        for word in words:
            if word in self.ports:
                previous = word
                mapped.append("localhost")
            elif word in ("6379", "26379") and previous:
                mapped.append(str(self.ports[previous]))
            else:
                mapped.append(word)
        return mapped

    def start(self, name: str) -> None:
        volume = self.folder / name
        volume.mkdir(exist_ok=True)
        # On loopback only, no snapshots, and a replica's first sync at once.
        with (volume / "redis.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [
                    "sh",
                    str(REDIS_SCRIPT),
                    *self._map_ports(self.compose[name]["command"][2:]),
                    "--",
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--repl-diskless-sync-delay",
                    "0",
                ],
                cwd=volume,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one C call, looked up before
            )

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_one(self, name: str) -> None:
        """SIGTERM, as `docker compose restart` sends."""
        process = self.processes.pop(name)
        process.terminate()
        process.wait(10)

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def client(self, name: str) -> redis.Redis:
        """The test's own line to a process (it reconnects after a restart)."""
        if name not in self._clients:
            self._clients[name] = redis.Redis(
                port=self.ports[name], socket_connect_timeout=0.5, socket_timeout=2
            )
        return self._clients[name]

    def healthcheck(self, name: str) -> bool:
        """The service's compose healthcheck, run here against its port."""
        kind, *test = self.compose[name]["healthcheck"]["test"]
        port = str(self.ports[name])
        if kind == "CMD-SHELL":
            (line,) = test
            command = ["sh", "-c", line.replace("-p 26379", f"-p {port}")]
        else:
            assert test[0] == "redis-cli", test
            command = ["redis-cli", "-p", port, *test[1:]]
        return subprocess.run(command, capture_output=True, timeout=10).returncode == 0  # noqa: PLW1510

    def tessera_environ(self, compose_service: str) -> dict[str, str]:
        """A Tessera service's environment, its sentinels mapped."""
        environ = {k: str(v) for k, v in self.compose[compose_service]["environment"].items()}
        environ["REDIS_SENTINELS"] = ",".join(
            f"localhost:{self.ports[entry.split(':')[0]]}"
            for entry in environ["REDIS_SENTINELS"].split(",")
        )
        return environ

    def primaries(self) -> set[str]:
        """The services the sentinels name as the primary: one when they agree."""
        services = {port: name for name, port in self.ports.items()}
        named = set()
        for sentinel in REDIS[2:]:
            address = self.client(sentinel).sentinel_get_master_addr_by_name(SERVICE)
            assert isinstance(address, tuple), address
            named.add(services[int(address[1])])
        return named


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[ComposeRedis]:
    started = ComposeRedis(tmp_path, compose(keys())["services"])
    try:
        yield started
    finally:
        started.stop()


def _role(stack: ComposeRedis, name: str) -> str:
    return str(stack.client(name).info("replication")["role"])


def _settled(stack: ComposeRedis, name: str) -> bool:
    replication = stack.client(name).info("replication")
    persistence = stack.client(name).info("persistence")
    return bool(
        replication["master_link_status"] == "up"
        and not persistence["aof_rewrite_in_progress"]
        and not persistence["aof_rewrite_scheduled"]
    )


@pytest.mark.timeout(90)
def test_the_sentinel_set_starts_serves_tessera_and_keeps_its_roles_after_a_failover(
    compose_redis: ComposeRedis,
) -> None:
    stack = compose_redis
    # In compose's order: the servers healthy, then the sentinels.
    for name in ("redis-1", "redis-2"):
        stack.start(name)
    for name in ("redis-1", "redis-2"):
        _wait(f"{name}'s healthcheck", lambda name=name: stack.healthcheck(name))  # type: ignore[misc]
    _wait("redis-2 replicating redis-1", lambda: _role(stack, "redis-2") == "slave")
    for name in REDIS[2:]:
        stack.start(name)
    for name in REDIS[2:]:
        _wait(f"{name}'s healthcheck", lambda name=name: stack.healthcheck(name))  # type: ignore[misc]
    assert stack.primaries() == {"redis-1"}

    # A scheduler's healthcheck, run as compose runs it, finds the primary through them.
    (script,) = stack.compose["scheduler"]["healthcheck"]["test"][3:]
    environ = stack.tessera_environ("scheduler")
    check = subprocess.run(  # noqa: PLW1510 - asserted just below, with the output
        [sys.executable, "-c", script],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    stack.client("redis-1").set("compose:before", "kept")

    # The primary dies; the sentinels (told to wait 1 s, not compose's 5) promote redis-2.
    for sentinel in REDIS[2:]:
        stack.client(sentinel).sentinel_set(SERVICE, "down-after-milliseconds", 1000)
    stack.kill("redis-1")
    _wait("the failover", lambda: stack.primaries() == {"redis-2"}, 60)
    assert stack.client("redis-2").get("compose:before") == b"kept"

    # redis-1 comes back with compose's own command: the sentinels make it a replica and
    # rewrite its configuration file, so a later restart keeps it one.
    stack.start("redis-1")
    # A sentinel converts a returning old primary only once it has reported that role for a
    # while (about 8 s) on an INFO refresh (every 10 s for an instance it holds a replica):
    # up to ~20 s on a quiet machine, and CI once saw more than 30 on a loaded one.
    _wait("redis-1 as a replica", lambda: _role(stack, "redis-1") == "slave", 60)
    _wait(
        "redis-1's file rewritten",
        lambda: (
            f"replicaof localhost {stack.ports['redis-2']}"
            in (stack.folder / "redis-1" / "redis.conf").read_text()
        ),
    )
    # (Redis refuses SIGTERM while it writes its first append-only file after the sync.)
    _wait("redis-1's sync written", lambda: _settled(stack, "redis-1"))
    stack.stop_one("redis-1")
    stack.start("redis-1")
    _wait("redis-1 up again", lambda: stack.client("redis-1").ping())
    assert _role(stack, "redis-1") == "slave"
    assert stack.primaries() == {"redis-2"}
    for sentinel in REDIS[2:]:
        assert (
            f"monitor {SERVICE} localhost {stack.ports['redis-2']}"
            in (stack.folder / sentinel / "sentinel.conf").read_text()
        )

    # Tessera, configured as before, follows the new primary without a restart.
    check = subprocess.run(  # noqa: PLW1510 - asserted just below, with the output
        [sys.executable, "-c", script],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    assert load_settings(environ, dotenv_path=None).redis is not None
