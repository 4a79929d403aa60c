"""A PgBouncer of the tests' own, in transaction mode, in front of the tests' PostgreSQL.

Every database is passed through (`* =`), so a throwaway database is reachable through it
as soon as it exists. `pool_size` server connections per database and user: with 1, every
transaction of every tenant runs on the same server connection, one after the other.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.processes import free_port


class PgBouncer:
    def __init__(self, *, pool_size: int = 1, users: tuple[str, ...] = ("postgres",)) -> None:
        binary = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
        )
        if binary is None:
            services.service_missing("PgBouncer", "pgbouncer", FileNotFoundError())
        assert binary is not None
        self._binary = binary
        self._pool_size = pool_size
        self._users = users
        self.port = free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="tessera-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    def through(self, database_url: str) -> str:
        """`database_url` (on the tests' PostgreSQL), reached through this PgBouncer."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def start(self) -> None:
        target = make_url(services.TEST_DATABASE_URL)
        users = "".join(f'"{user}" ""\n' for user in self._users)
        (self._folder / "users.txt").write_text(users)
        (self._folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self._folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self._pool_size}\n"
            "max_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "server_reset_query =\n"
        )
        command = [self._binary, str(self._folder / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            owner = pwd.getpwnam("postgres")
            for path in (self._folder, *self._folder.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            command = [self._binary, "-u", "postgres", str(self._folder / "pgbouncer.ini")]
        log = (self._folder / "pgbouncer.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(self.log()) from None
                time.sleep(0.05)

    def log(self) -> str:
        return (self._folder / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)
