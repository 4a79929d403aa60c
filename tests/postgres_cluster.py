"""A PostgreSQL cluster of one test's own (`initdb` on a free port), to stop and start again.

PostgreSQL refuses to run as root, so under root the cluster is made and run as the
`postgres` user (`runuser`), in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests import services
from tests.e2e.processes import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    return found[-1] if found else shutil.which(name)


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(n) for n in part.split(".") if n.isdigit())


class PostgresCluster:
    """Trust authentication on 127.0.0.1; `url` reaches its `postgres` database."""

    def __init__(self, *settings: str) -> None:
        """`settings`: `name=value` server settings added to the defaults (`-c`)."""
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            services.service_missing("initdb", "postgresql://127.0.0.1", FileNotFoundError())
        assert initdb is not None
        assert pg_ctl is not None
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self.port = free_port()
        self._root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
        self._data = self._root / "data"
        self._as: list[str] = []
        self._settings = "".join(f" -c {setting}" for setting in settings)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self._root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._run(
            self._initdb,
            "-D",
            str(self._data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._root} -c fsync=off"
        options += self._settings
        log = str(self._root / "postgres.log")
        self._run(self._pg_ctl, "-D", str(self._data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a restart by an operator does."""
        self._run(self._pg_ctl, "-D", str(self._data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self._root, ignore_errors=True)
