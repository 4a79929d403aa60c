"""A new user's first run: the README's commands as written, on a fresh folder."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import services
from tests.e2e.identity.conftest import bearer, login, register
from tests.e2e.processes import (
    BASE_ENV,
    RunningServer,
    free_port,
    running_server,
    tessera,
    wait_until_up,
)
from tests.fakes.s3_server import FakeS3Server
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.tls import TestAuthority
from tests.unit.files.samples import PDF, PNG

pytestmark = pytest.mark.slow

README = Path(__file__).parents[2] / "README.md"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "JWT_SECRET_KEY": "k" * 40,
    "DATA_ENCRYPTION_KEY": base64.b64encode(b"d" * 32).decode(),
    "REDIS_URL": services.TEST_REDIS_URL,
    "PUBLIC_BASE_URL": "https://app.example.com",
    "LOG_LEVEL": "WARNING",
}


def readme_block(after: str) -> str:
    """The first ```sh block of the README after the line `after`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    found = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert found is not None, f"no sh block after {after!r}"
    return found.group(1)


@pytest.fixture
def smtp_with_starttls(tmp_path: Path) -> Iterator[tuple[FakeSmtpServer, TestAuthority]]:
    authority = TestAuthority(tmp_path / "tls")
    with FakeSmtpServer(starttls=authority.server_context()) as server:
        yield server, authority


async def test_the_readme_production_snippet_runs_top_to_bottom(
    tmp_path: Path,
    s3_server: FakeS3Server,
    smtp_with_starttls: tuple[FakeSmtpServer, TestAuthority],
    redis_prefix: str,
) -> None:
    """The snippet, with only the addresses of this machine's services and a database name
    of the test's own put in, creates, migrates and serves; every dependency is ready."""
    await services.check_postgres()
    await services.check_redis()
    owner = make_url(services.TEST_DATABASE_URL)
    if (owner.host, owner.port or 5432, owner.username) != ("127.0.0.1", 5432, "postgres"):
        pytest.skip("the README's snippet names postgres@127.0.0.1:5432")
    if shutil.which("createdb") is None or shutil.which("psql") is None:
        pytest.skip("the PostgreSQL client tools are missing: `uv run just services`")
    smtp, authority = smtp_with_starttls
    bucket = s3_server.create_bucket()
    database = f"tessera_readme_{uuid.uuid4().hex[:10]}"
    port = free_port()
    script = readme_block("Then configure production mode and run:")
    for old, new in [
        ("redis://127.0.0.1:6379/0", services.TEST_REDIS_URL),
        ("http://127.0.0.1:9000", s3_server.endpoint_url),
        ("S3_BUCKET=tessera", f"S3_BUCKET={bucket}"),
        ("SMTP_PORT=587", f"SMTP_PORT={smtp.port}"),
        ("-U postgres tessera", f"-U postgres {database}"),
        ("-d tessera", f"-d {database}"),
        ("5432/tessera", f"5432/{database}"),
        ("uv run tessera serve --workers 4", f"exec uv run tessera serve --port {port}"),
        ("uv run tessera", f"{sys.executable} -m tessera"),
    ]:
        assert old in script, f"the README's snippet no longer says {old!r}"
        script = script.replace(old, new)
    env = BASE_ENV | {"REDIS_KEY_PREFIX": redis_prefix, "SSL_CERT_FILE": str(authority.ca_file)}
    try:
        ready, output = await asyncio.to_thread(_run_until_ready, script, env, tmp_path, port)
    finally:
        await _drop_database(database)
    assert ready.status_code == 200, f"{ready.text}\n{output}"
    assert set(ready.json()["checks"]) == {"database", "cache", "queue", "email", "storage"}
    assert "configuration error" not in output


def _run_until_ready(
    script: str, env: dict[str, str], cwd: Path, port: int
) -> tuple[httpx.Response, str]:
    """Runs `script` in bash until its server is ready; its answer and the output so far."""
    log = cwd / "snippet.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        return _wait_for_ready(f"http://127.0.0.1:{port}", process, log), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 90
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the snippet stopped ({process.returncode}):\n{log.read_text()}")
        try:
            last = httpx.get(f"{url}/health/ready", timeout=5)
            if last.status_code == 200:
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready: {last and last.text}\n{log.read_text()}")


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(services.asyncpg_dsn(services.TEST_DATABASE_URL), timeout=3)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_commands_that_store_no_object_need_no_s3_in_production(
    postgres_url: str, tmp_path: Path
) -> None:
    owner = PRODUCTION | {"DATABASE_URL": postgres_url}
    migrated = await asyncio.to_thread(tessera, "migrate", "upgrade", cwd=tmp_path, env=owner)
    assert migrated.returncode == 0, migrated.stderr
    app = PRODUCTION | {"DATABASE_URL": await services.as_app_role(postgres_url)}
    checked = tessera("check-config", cwd=tmp_path, env=app)
    assert checked.returncode == 0, checked.stderr
    assert "S3_BUCKET=  (default)" in checked.stdout
    assert "tessera: warning: S3_BUCKET: is not set" in checked.stderr
    created = tessera(
        "create-admin",
        "--email",
        "root@example.com",
        "--password",
        "admin-pass-phrase-9",
        "--full-name",
        "Root",
        cwd=tmp_path,
        env=app,
    )
    assert created.returncode == 0, created.stderr
    assert uuid.UUID(created.stdout.strip().splitlines()[-1])
    for command in (("serve",), ("worker",), ("backup",)):
        refused = tessera(*command, cwd=tmp_path, env=app)
        assert refused.returncode == 2, (command, refused.stderr)
        assert refused.stderr.strip() == (
            "tessera: configuration error: S3_BUCKET: is required when ENVIRONMENT=production"
        )


def test_serve_keeps_its_database_under_a_data_dir_elsewhere(tmp_path: Path) -> None:
    data_dir = tmp_path / "elsewhere" / "data"
    with running_server(tmp_path, {"DATA_DIR": str(data_dir)}) as server:
        ready = httpx.get(f"{server.url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert (data_dir / "tessera.db").is_file()
    assert not (tmp_path / "var").exists(), "nothing is left in the default ./var"


async def _links_of_a_new_user(api: str) -> dict[str, str]:
    """Sign up and in, upload a file, an avatar and start a presigned upload; the links, each
    checked to work."""
    async with httpx.AsyncClient(base_url=api, timeout=20) as client:
        await register(client)
        headers = bearer(await login(client))
        sent = await client.post(
            "/api/v1/files", files={"file": ("a.pdf", PDF, "application/pdf")}, headers=headers
        )
        assert sent.status_code == 201, sent.text
        detail = await client.get(f"/api/v1/files/{sent.json()['data']['id']}", headers=headers)
        download_url = detail.json()["data"]["download_url"]
        avatar = await client.put(
            "/api/v1/users/me/avatar",
            files={"file": ("a.png", PNG, "image/png")},
            headers=headers,
        )
        assert avatar.status_code == 200, avatar.text
        avatar_url = avatar.json()["data"]["avatar_url"]
        parts = urlsplit(avatar_url)  # asked here, wherever it points
        redirect = await client.get(f"{parts.path}?{parts.query}", headers=headers)
        assert redirect.status_code == 307, redirect.text
        started = await client.post(
            "/api/v1/files/uploads",
            json={"content_type": "application/pdf", "size_bytes": len(PDF)},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        ticket = started.json()["data"]
        links = {
            "download": download_url,
            "avatar": avatar_url,
            "avatar_download": redirect.headers["location"],
            "upload": ticket["url"],
        }
        if not all(link.startswith(api) for link in links.values()):
            return links  # the caller says which do not come back here
        assert (await client.get(download_url)).content == PDF
        assert (await client.get(links["avatar_download"])).status_code == 200
        put = await client.put(ticket["url"], content=PDF, headers=ticket["headers"])
        assert put.status_code in (200, 201, 204), put.text
        done = await client.post(f"/api/v1/files/{ticket['file']['id']}/complete", headers=headers)
        assert done.status_code == 200, done.text
        return links


async def test_links_follow_the_port_the_server_listens_on(tmp_path: Path) -> None:
    """`uv run just serve --port 9000` as the README shows it: not the default port 8000."""
    with running_server(tmp_path, {"LOG_LEVEL": "WARNING"}) as server:
        assert not server.url.endswith(":8000")
        links = await _links_of_a_new_user(server.url)
    for name, link in links.items():
        assert link.startswith(f"{server.url}/api/v1/"), (name, link)


async def test_a_set_public_base_url_wins_over_the_listening_address(tmp_path: Path) -> None:
    base = "https://app.example.com"
    with running_server(tmp_path, {"PUBLIC_BASE_URL": base, "LOG_LEVEL": "WARNING"}) as server:
        links = await _links_of_a_new_user(server.url)
    for name, link in links.items():
        assert link.startswith(f"{base}/api/v1/"), (name, link)


def test_serve_reload_as_the_quickstart_shows_it(tmp_path: Path) -> None:
    """`uv run just serve --port 9000 --reload`: granian's reloader is installed, and it
    watches the code only, so the server's own writes (var/, its log) restart nothing."""
    with running_server(tmp_path, {"LOG_LEVEL": "INFO"}, args=("--reload",)) as server:
        registered = httpx.post(
            f"{server.url}/api/v1/auth/register",
            json={
                "email": "a@example.com",
                "password": "reload-pass-phrase-9",
                "full_name": "A",
                "terms_accepted": True,
            },
            timeout=20,
        )
        assert registered.status_code == 201, registered.text
        (tmp_path / "notes.txt").write_text("a file written beside the server")
        time.sleep(1)  # the reloader looks every 50 ms: enough for it to notice, if it would
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        log = server.log.read_text()
    assert "granian[reload]" not in log
    assert log.count("Spawning worker") == 1, log


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` now (Linux: /proc/PID/task/TID/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            with suppress(OSError):
                kids = {int(child) for child in children.read_text().split()}
                todo += sorted(kids - found)
                found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_to_just_serve_stops_the_server(tmp_path: Path) -> None:
    """`just serve` is how the README starts the server: a SIGTERM to it (from uv, a
    terminal, a supervisor) must stop `tessera serve` and free the port, not orphan it."""
    just = Path(sys.executable).parent / "just"
    if not just.exists():
        pytest.skip("just is not installed in this environment")
    port = free_port()
    env = BASE_ENV | {"PATH": f"{just.parent}:{BASE_ENV['PATH']}", "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "just.log").open("w")
    process = subprocess.Popen(
        [
            str(just),
            "-f",
            str(README.parent / "Justfile"),
            "-d",
            str(tmp_path),
            "serve",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        server = RunningServer(process, port, tmp_path / "just.log")
        wait_until_up(server)
        below = _descendants(process.pid)
        assert below, "just started nothing"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in below) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in below if _alive(pid)]
        assert left == [], f"still running after just stopped: {left}"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health", timeout=2)
    finally:
        for pid in _descendants(process.pid) | {process.pid}:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        log.close()


def test_an_idle_server_logs_nothing_at_info(tmp_path: Path) -> None:
    """The outbox sweep runs every OUTBOX_SWEEP_SECONDS; a sweep that finds nothing to do
    writes no line (taskiq's "Sending task" and "Executing task" were two a sweep)."""
    env = {"LOG_LEVEL": "INFO", "OUTBOX_SWEEP_SECONDS": "1"}
    with running_server(tmp_path, env) as server:
        started = len(server.lines())
        time.sleep(3.5)  # three sweeps or more
        later = server.lines()[started:]
    assert [line for line in later if "sweep" in line or "taskiq" in line] == []
