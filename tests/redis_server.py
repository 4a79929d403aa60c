"""A `redis-server` of one test's own, on a free port, that the test can stop and start again."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests import services
from tests.e2e.processes import free_port


class RedisServer:
    """`persistent` keeps the data across a restart (append-only file, as production runs
    it); otherwise Redis comes back empty, its streams and consumer groups gone."""

    def __init__(self, folder: Path, *, persistent: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            services.service_missing("redis-server", "redis://127.0.0.1", FileNotFoundError())
        self._binary = str(binary)
        self._folder = folder
        self.persistent = persistent
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        if not self.persistent:
            persistence = ["--appendonly", "no"]
        log = (self._folder / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self._folder),
                *persistence,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Shut down as an operator would (`SHUTDOWN`): clients see their connections close."""
        if self._process is None:
            return
        client = redis.Redis(port=self.port)
        try:
            client.shutdown(nosave=not self.persistent)
        except redis.exceptions.ConnectionError:
            pass  # shutting down closes the connection that asked
        finally:
            client.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
