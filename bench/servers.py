"""Servers under test, each a subprocess on a free 127.0.0.1 port in its own process group.

`serving(spec)` starts one, waits until `GET /health` answers 200, and stops it on the way
out: SIGTERM to the group, SIGKILL after a grace period, then SIGKILL to any straggler.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: Callable[[int], list[str]]
    """The command line, given the port."""
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    """None: a fresh temporary directory."""
    ready_path: str = "/health"


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.pid)


def _base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}


def tessera() -> ServerSpec:
    """Tessera in embedded mode (SQLite in a temporary directory, in-process cache)."""
    return ServerSpec(
        name="tessera",
        argv=lambda port: [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
        env=_base_env() | {"LOG_LEVEL": "WARNING"},
    )


def floor() -> ServerSpec:
    """`bench.floor_app` under granian, as Tessera runs: ASGI, one worker."""
    return ServerSpec(
        name="floor",
        argv=lambda port: [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "bench.floor_app:app",
        ],
        env=_base_env() | {"PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )


@asynccontextmanager
async def serving(spec: ServerSpec, *, ready_timeout: float = 60.0) -> AsyncIterator[Server]:
    with _scratch(spec.name) as (scratch, log):
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            *spec.argv(port),
            cwd=spec.cwd or scratch,
            env=spec.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            server = Server(spec.name, f"http://127.0.0.1:{port}", process.pid)
            try:
                async with asyncio.timeout(ready_timeout):
                    await _wait_ready(server, process, spec.ready_path, Path(log.name))
            except TimeoutError:
                message = f"{spec.name} not ready after {ready_timeout:.0f}s"
                raise RuntimeError(f"{message}:\n{_tail(Path(log.name))}") from None
            yield server
        finally:
            await _stop(process)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _scratch(name: str) -> Iterator[tuple[Path, BinaryIO]]:
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp,
        (Path(tmp) / "server.log").open("wb") as log,
    ):
        yield Path(tmp), log


async def _wait_ready(
    server: Server, process: asyncio.subprocess.Process, path: str, log: Path
) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        while process.returncode is None:
            with suppress(httpx.HTTPError):
                if (await client.get(server.base_url + path)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} exited ({process.returncode}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def _stop(process: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
    # A group with members keeps its id reserved, so this reaches only our stragglers.
    if _group_members(process.pid):
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_members(pgid: int) -> list[list[str]]:
    """The `/proc/<pid>/stat` fields after the command name, for each process in the group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(fields)
    return members


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used so far by the living processes of a group (Linux)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for fields in _group_members(pgid))
    return ticks / _CLOCK_TICKS
