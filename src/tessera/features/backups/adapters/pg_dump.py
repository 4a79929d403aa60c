"""`DatabaseDumper` adapters: `pg_dump` for PostgreSQL, a refusal for SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator, Mapping

from sqlalchemy.engine import URL, make_url

from tessera.features.backups.domain.backup import BackupsNeedPostgres, DumpFailed

CHUNK_BYTES = 256 * 1024
STDERR_LINES = 5

PG_DUMP_OPTIONS = (
    "--format=plain",
    "--no-owner",
    "--enable-row-security",
)
"""Plain SQL for `psql`, into an empty database (no `--clean`: a restore never drops
anything). No owners: the restoring role owns what it creates. Privileges are kept, so the
grants to `tessera_app` (migration 0006) come back with the tables; the role itself is
cluster-wide and must exist where the dump is restored. `--enable-row-security` with
`app.all_tenants=on` (see `PgDumpDumper`) lets a role under row-level security, such as
`tessera_app`, dump every tenant's rows; without it pg_dump refuses such tables."""


def libpq_connection(database_url: str) -> tuple[str, str | None]:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (no driver, no password) and the
    password apart, for `PGPASSWORD`. asyncpg's `ssl=` query becomes libpq's `sslmode=`."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise BackupsNeedPostgres()
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    query.pop("ssl", None)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query,
    )
    return plain.render_as_string(hide_password=False), url.password


class PgDumpDumper:
    """Runs `pg_dump` (the client must be installed and not older than the server) as a
    subprocess, without a shell, and streams its standard output. The password travels in
    `PGPASSWORD`, never on the command line. The session sets `app.all_tenants=on`, the
    audited all-tenants path of the row-level security policies, so the dump holds every
    tenant's rows whichever role `DATABASE_URL` names."""

    def __init__(
        self,
        database_url: str,
        *,
        executable: str = "pg_dump",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._database_url = database_url
        self._executable = executable
        self._environ = environ

    def dump(self) -> AsyncIterator[bytes]:
        return self._dump()

    async def _dump(self) -> AsyncIterator[bytes]:
        dsn, password = libpq_connection(self._database_url)
        env = dict(os.environ if self._environ is None else self._environ)
        if password is not None:
            env["PGPASSWORD"] = password
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c app.all_tenants=on".strip()
        try:
            process = await asyncio.create_subprocess_exec(
                self._executable,
                *PG_DUMP_OPTIONS,
                f"--dbname={dsn}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as error:
            raise DumpFailed(f"cannot run {self._executable}: {error.strerror}") from None
        assert process.stdout is not None
        assert process.stderr is not None
        errors = asyncio.create_task(_last_lines(process.stderr))
        try:
            while chunk := await process.stdout.read(CHUNK_BYTES):
                yield chunk
            code = await process.wait()
            tail = await errors
        finally:
            if process.returncode is None:  # the consumer stopped early, or was cancelled
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            errors.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await errors
        if code != 0:
            detail = " | ".join(tail) or "no message"
            raise DumpFailed(f"pg_dump exited with status {code}: {detail}")


async def _last_lines(stream: asyncio.StreamReader) -> list[str]:
    lines: deque[str] = deque(maxlen=STDERR_LINES)
    while line := await stream.readline():
        text = line.decode(errors="replace").strip()
        if text:
            lines.append(text)
    return list(lines)


class UnsupportedDumper:
    """SQLite (embedded mode): there is no dump; every attempt raises `BackupsNeedPostgres`."""

    def dump(self) -> AsyncIterator[bytes]:
        return _Refusal()


class _Refusal:
    def __aiter__(self) -> _Refusal:
        return self

    async def __anext__(self) -> bytes:
        raise BackupsNeedPostgres()
