"""Servers under test, each a subprocess on a free 127.0.0.1 port in its own process group.

`serving(spec)` starts one, waits until `GET /health` answers 200, and stops it on the way
out: SIGTERM to the group, SIGKILL after a grace period, then SIGKILL to any straggler.
`running(argv, ...)` does the starting and stopping alone, for processes that serve no
HTTP (a worker, a scheduler).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
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


def base_env() -> dict[str, str]:
    """What a subprocess needs of ours: PATH and HOME; the rest it is told explicitly."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}


def tessera(
    *, env: Mapping[str, str] | None = None, cwd: Path | None = None, workers: int | None = None
) -> ServerSpec:
    """`tessera serve`: by default in embedded mode (SQLite in a temporary directory,
    in-process cache). `env` adds to (and overrides) the environment, e.g. `DATABASE_URL`
    and `REDIS_URL` for production mode; `cwd` is where it runs (None: a fresh temporary
    directory); `workers` is passed as `--workers` when given."""
    extra = [] if workers is None else ["--workers", str(workers)]
    return ServerSpec(
        name="tessera",
        argv=lambda port: [sys.executable, "-m", "tessera", "serve", "--port", str(port), *extra],
        env=base_env() | {"LOG_LEVEL": "WARNING"} | dict(env or {}),
        cwd=cwd,
    )


def floor(
    app: str = "bench.floor_app:app",
    *,
    name: str = "floor",
    env: Mapping[str, str] | None = None,
    factory: bool = False,
) -> ServerSpec:
    """A floor app (`bench.floor_app` by default) under granian, as Tessera runs: ASGI, one
    worker; `env` is added to its environment. With `factory`, `app` names a function that
    returns the app (as `tessera.main.asgi:create`), called in the worker."""
    return ServerSpec(
        name=name,
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
            *(["--factory"] if factory else []),
            app,
        ],
        env=base_env() | {"PYTHONPATH": str(REPO_ROOT)} | dict(env or {}),
        cwd=REPO_ROOT,
    )


@asynccontextmanager
async def serving(spec: ServerSpec, *, ready_timeout: float = 60.0) -> AsyncIterator[Server]:
    with scratch_with_log(spec.name) as (scratch, log):
        port = free_port()
        argv = spec.argv(port)
        async with running(argv, env=spec.env, cwd=spec.cwd or scratch, log=log) as process:
            server = Server(spec.name, f"http://127.0.0.1:{port}", process.pid)
            try:
                async with asyncio.timeout(ready_timeout):
                    await _wait_ready(server, process, spec.ready_path, Path(log.name))
            except TimeoutError:
                message = f"{spec.name} not ready after {ready_timeout:.0f}s"
                raise RuntimeError(f"{message}:\n{tail(Path(log.name))}") from None
            yield server


@asynccontextmanager
async def running(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: BinaryIO, grace: float = 5.0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A subprocess in a process group of its own, output to `log`; stopped on the way out
    (SIGTERM to the group, SIGKILL after `grace` seconds, then to any straggler)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        await _stop(process, grace)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def scratch_with_log(name: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A temporary directory for a process named `name`, and a log file open in it; both
    gone on the way out."""
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp,
        (Path(tmp) / f"{name}.log").open("wb") as log,
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
    raise RuntimeError(f"{server.name} exited ({process.returncode}):\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file, for an error message."""
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


def group_rss_bytes(pgid: int) -> int:
    """Resident memory (VmRSS) summed over the living processes of a group (Linux)."""
    return sum(status_kib(pid, "VmRSS") for pid in group_pids(pgid)) * 1024


def group_pids(pgid: int) -> list[int]:
    """The living processes of a group (Linux)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def status_kib(pid: int, name: str) -> int:
    """A `/proc/<pid>/status` figure in KiB; 0 for a process that is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used so far by the living processes of a group (Linux)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for fields in _group_members(pgid))
    return ticks / _CLOCK_TICKS
