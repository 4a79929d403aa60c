"""Run `tessera` as a user would: a separate process, configured only by its environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BASE_ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}


def tessera(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        cwd=cwd,
        env=BASE_ENV | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningServer:
    def __init__(
        self, process: subprocess.Popen[str] | subprocess.Popen[bytes], port: int, log: Path
    ) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


@contextmanager
def running_server(
    cwd: Path,
    env: dict[str, str] | None = None,
    *,
    workers: int = 1,
    args: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[RunningServer]:
    """`tessera serve` on `port` (a free one if None), up and answering `/health`."""
    port = port or free_port()
    log = cwd / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tessera",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                *args,
            ],
            cwd=cwd,
            env=BASE_ENV | (env or {}),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = RunningServer(process, port, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(server: RunningServer) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"server did not come up:\n{server.log.read_text()}")


@contextmanager
def tessera_processes(
    cwd: Path, env: dict[str, str]
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """`start("worker", "--queues", ...)` runs `tessera <command>` with `env`, its output in
    `cwd/<command>-<n>.log`; every process started is stopped on the way out (SIGTERM,
    SIGKILL after 15 s)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*command: str) -> subprocess.Popen[bytes]:
        log = (cwd / f"{command[0]}-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tessera", *command],
            env=BASE_ENV | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
