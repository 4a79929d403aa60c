"""Uploading and downloading large files through the API against an S3 server, and the
server's memory meanwhile.

Production mode on this machine, as in `bench.identity`: a throwaway PostgreSQL database
(migrated), a Redis key prefix of the run's own, and `tessera serve --workers 1` with
`ENVIRONMENT=development`; objects go to moto's S3 server, run as a process of its own (not
a thread of this one, so it competes with neither the client's GIL nor its memory) with a
bucket of the run's own. `FILE_MAX_BYTES`, the tenant quota and the rate limits are raised
through configuration so nothing is refused.

One user is registered and logged in through the API, a small file is uploaded and
downloaded once to warm everything up, and the server's idle memory is measured. Then, for
each size, one transfer after the other, never two at once:

1. upload: `POST /api/v1/files`, multipart with the one part `file`, read by the client from
   a file on disk (a PDF-looking body: `%PDF-1.7` then random bytes), so neither side needs
   to hold it whole;
2. download: `GET /api/v1/files/{id}`, then its `download_url`, streamed and checked
   against the upload's SHA-256.

During each transfer a background task samples the resident memory (VmRSS) of every process
in the server's process group every `SAMPLE_S` seconds; the kernel's high-water mark
(VmHWM, reset before the transfer) catches any peak between two samples.

Everything started is stopped on the way out, failure and Ctrl-C included: the servers by
process group, the database, the Redis keys, the temporary directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TypeVar

import httpx

from bench import stores
from bench.core import Figure, Options, Row
from bench.servers import (
    Server,
    ServerSpec,
    base_env,
    group_pids,
    serving,
    status_kib,
    tessera,
)
from tessera.main import migrations

NAME = "files"
TITLE = "Upload and download of large files through the API against S3 (moto), server memory"

MIB = 1024 * 1024
SIZES_MIB = (8, 32, 64)
WARMUP_MIB = 1
"""Uploaded and downloaded once before the baseline, unmeasured."""
PDF_HEAD = b"%PDF-1.7\n"
WRITE_CHUNK = MIB
DOWNLOAD_CHUNK = 256 * 1024
SAMPLE_S = 0.02
"""How often the server's RSS is sampled during a transfer."""
BASELINE_S = 1.0
"""How long the idle server's RSS is sampled for the baseline."""
MEMBERS_EVERY = 50
"""The process group's members are looked up again every this many samples."""
RAISED_LIMIT = "10000000"
"""Requests per minute for every rate-limit group: on, but out of the way."""
FILE_MAX_BYTES = 2 * max(SIZES_MIB) * MIB
QUOTA_BYTES = 8 * sum(SIZES_MIB) * MIB
S3_ACCESS_KEY_ID = "AKIDTESSERABENCH"
S3_SECRET_ACCESS_KEY = "tessera-bench-secret"  # moto checks no signature
S3_REGION = "us-east-1"
TIMEOUT_S = 600.0

FILES = "/api/v1/files"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"

NOTES = (
    f"The client (httpx, in this process), the server, moto's S3 server, PostgreSQL and Redis "
    f"share this machine's {os.cpu_count()} cores, and other processes may be running: the "
    f"figures are from one run and may be noisy. MiB/s is the file's size over the wall "
    f"time of the request, from sending the first byte to the response's last; moto (pure "
    f"Python, every object held in its memory) is likely the slowest party, so the rates say "
    f"more about this setup than about S3.",
    "Upload: the client sends the multipart body from a file on disk with a Content-Length. "
    "Litestar parses it as it arrives and spools the part to a `SpooledTemporaryFile` (1 MiB "
    "in memory, the rest in the server's temporary directory); the use case sniffs the type, "
    "then streams 256 KiB chunks to obstore, which sends a multipart upload to S3. The time "
    "covers all of it: the response comes after the object is stored and the row committed.",
    "Download: with S3 no API route streams a file's bytes. `GET /files/{id}` answers "
    "metadata and a 5-minute presigned `download_url`, which points straight at the S3 server "
    "(`LocalStorageController`'s `/api/v1/storage/objects` exists only without `S3_BUCKET`). "
    "So the download is measured direct from storage: the API call that signs the link "
    "(included in the time) and the GET to moto; the server's memory during it is shown to "
    "make the point that the bytes do not pass through Tessera.",
    "Memory: RSS summed over every process of the server's process group (`tessera serve` "
    "and its granian worker), sampled every "
    f"{SAMPLE_S * 1000:.0f} ms from /proc/<pid>/status (psutil is not installed). Baseline: "
    f"the median over {BASELINE_S:g} s of idle after the warm-up transfer. Peak: the largest "
    "sample during the transfer; peak (HWM): the sum of each process's VmHWM, reset through "
    "/proc/<pid>/clear_refs just before the transfer, so a spike between samples is not "
    "missed. Growth = peak - baseline. moto's own memory (which does grow: it keeps the "
    "objects) is not counted.",
    "The `64 vs 8 MiB` rows subtract the growth at 8 MiB from the growth at 64 MiB: memory "
    "that does not grow with the file size shows near 0 there, memory that does shows a "
    "good share of the 56 MiB difference. Figures only, nothing is checked.",
    "The registration's welcome email goes to the Redis email stream, where no worker "
    "consumes it (none runs); the run's keys are deleted afterwards.",
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Memory:
    peak_mib: float
    hwm_mib: float
    samples: int


@dataclass(frozen=True)
class _Transfer:
    size_mib: int
    seconds: float
    server_cpu_s: float
    memory: _Memory

    @property
    def mib_per_s(self) -> float:
        return self.size_mib / self.seconds


@dataclass(frozen=True)
class _Case:
    size_mib: int
    upload: _Transfer
    download: _Transfer


def setup(_opts: Options) -> str:
    sizes = ", ".join(str(size) for size in SIZES_MIB)
    return (
        f"One upload then one download per size ({sizes} MiB), one at a time, after a "
        f"{WARMUP_MIB} MiB warm-up; `tessera serve --workers 1` on PostgreSQL, Redis and "
        f"moto's S3 server; server RSS sampled every {SAMPLE_S * 1000:.0f} ms."
    )


async def run(_opts: Options) -> list[Row]:
    if (reason := await stores.missing_service()) is not None:
        why = f"{reason}; {stores.HOW_TO_START}"
        _say(f"not run: {why}")
        return [Row("not run", {"why": why})]
    if (reason := _missing_moto()) is not None:
        _say(f"not run: {reason}")
        return [Row("not run", {"why": reason})]
    async with AsyncExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-files-")))
        bodies = await asyncio.to_thread(_write_bodies, scratch)
        server = await stack.enter_async_context(_production_tessera(scratch))
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT_S)
        )
        client.headers["Authorization"] = f"Bearer {await enrol(client)}"
        _say(f"warm-up: {WARMUP_MIB} MiB")
        await _upload_and_download(client, server, bodies[WARMUP_MIB], WARMUP_MIB)
        baseline = await _baseline(server.pid)
        cases = [
            await _upload_and_download(client, server, bodies[size], size) for size in SIZES_MIB
        ]
    return _rows(baseline, cases)


def _missing_moto() -> str | None:
    try:
        import moto.server  # noqa: F401  (only whether it is there)
    except ImportError as error:
        return f"moto's server cannot be imported ({error}); install the dev dependencies"
    return None


def _say(line: str) -> None:
    print(f"[{NAME}] {line}", file=sys.stderr)


# The bodies


def _write_bodies(folder: Path) -> dict[int, Path]:
    """One PDF-looking file per size, written a MiB at a time."""
    bodies = {}
    for size in (WARMUP_MIB, *SIZES_MIB):
        path = folder / f"bench-{size}mib.pdf"
        with path.open("wb") as out:
            out.write(PDF_HEAD)
            left = size * MIB - len(PDF_HEAD)
            while left > 0:
                chunk = os.urandom(min(WRITE_CHUNK, left))
                out.write(chunk)
                left -= len(chunk)
        bodies[size] = path
    return bodies


# The servers


@asynccontextmanager
async def _production_tessera(scratch: Path) -> AsyncIterator[Server]:
    """moto and Tessera on a fresh database, Redis prefix and bucket; gone on the way out."""
    async with AsyncExitStack() as stack:
        _say("starting moto's S3 server")
        s3 = await stack.enter_async_context(serving(_moto_spec(scratch)))
        bucket = await _create_bucket(s3.base_url)
        _say("creating and migrating a PostgreSQL database")
        database_url = await stack.enter_async_context(stores.throwaway_database())
        await asyncio.to_thread(migrations.upgrade, database_url)
        prefix = await stack.enter_async_context(stores.redis_namespace())
        spec = _tessera_spec(database_url, prefix, scratch, s3.base_url, bucket)
        _say("tessera: starting (production stores, S3, one worker)")
        yield await stack.enter_async_context(serving(spec))


def _moto_spec(scratch: Path) -> ServerSpec:
    return ServerSpec(
        name="moto",
        argv=lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=base_env(),
        cwd=scratch,
        ready_path="/moto-api/",
    )


async def _create_bucket(endpoint_url: str) -> str:
    """An unsigned `PUT /bucket`, which moto accepts (as `tests/fakes/s3_server.py` does)."""
    bucket = f"tessera-bench-{secrets.token_hex(6)}"
    async with httpx.AsyncClient(timeout=10.0) as client:
        (await client.put(f"{endpoint_url}/{bucket}")).raise_for_status()
    return bucket


def _tessera_spec(
    database_url: str, prefix: str, scratch: Path, s3_url: str, bucket: str
) -> ServerSpec:
    env = {
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": stores.REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET_KEY": secrets.token_urlsafe(30),  # 40 characters
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(scratch / "data"),
        "TMPDIR": str(scratch / "tmp"),
        "S3_ENDPOINT_URL": s3_url,
        "S3_BUCKET": bucket,
        "S3_REGION": S3_REGION,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
        "FILE_MAX_BYTES": str(FILE_MAX_BYTES),
        "STORAGE_QUOTA_BYTES_PER_TENANT": str(QUOTA_BYTES),
        "RATE_LIMIT_AUTH_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_API_PER_MINUTE": RAISED_LIMIT,
        "RATE_LIMIT_ADMIN_PER_MINUTE": RAISED_LIMIT,
    }
    (scratch / "tmp").mkdir(exist_ok=True)
    return tessera(env=env, cwd=scratch, workers=1)


# Registering and logging in the user


async def enrol(client: httpx.AsyncClient) -> str:
    """Register one user and log in; the access token."""
    email, password = "bench-files@example.com", f"bench-{secrets.token_hex(8)}"
    _say("registering and logging in one user")
    body = {"email": email, "password": password, "full_name": "Bench Files"}
    _expect(await client.post(REGISTER, json=body | {"terms_accepted": True}), 201)
    response = await client.post(LOGIN, json={"email": email, "password": password})
    _expect(response, 200)
    token = response.json()["data"]["access_token"]
    assert isinstance(token, str)
    return token


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        request = f"{response.request.method} {response.request.url.path}"
        raise RuntimeError(f"{request} answered {response.status_code}: {response.text[:500]}")


# The transfers


async def _upload_and_download(
    client: httpx.AsyncClient, server: Server, body: Path, size_mib: int
) -> _Case:
    _say(f"{size_mib} MiB: upload")
    size = size_mib * MIB
    (file_id, sha256), upload = await _measured(
        server, size_mib, lambda: _upload(client, body, size)
    )
    _say(f"{size_mib} MiB: download (direct from storage)")
    _, download = await _measured(
        server, size_mib, lambda: _download(client, file_id, sha256, size)
    )
    return _Case(size_mib, upload, download)


async def _upload(client: httpx.AsyncClient, body: Path, size: int) -> tuple[str, str]:
    """`POST /files` from the file on disk; the new file's id and SHA-256."""
    with body.open("rb") as source:
        files = {"file": (body.name, source, "application/pdf")}
        response = await client.post(FILES, files=files)
    _expect(response, 201)
    data = response.json()["data"]
    if data["size_bytes"] != size:
        raise RuntimeError(f"uploaded {size} bytes, stored {data['size_bytes']}")
    return str(data["id"]), str(data["sha256"])


async def _download(client: httpx.AsyncClient, file_id: str, sha256: str, size: int) -> None:
    """`GET /files/{id}`, then its `download_url`, streamed; checked against the upload."""
    response = await client.get(f"{FILES}/{file_id}")
    _expect(response, 200)
    url = response.json()["data"]["download_url"]
    digest, received = hashlib.sha256(), 0
    # The link is absolute (the S3 server) and presigned: no base URL, no bearer token.
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as storage, storage.stream("GET", url) as got:
        _expect(got, 200)
        async for chunk in got.aiter_raw(DOWNLOAD_CHUNK):
            digest.update(chunk)
            received += len(chunk)
    if received != size or digest.hexdigest() != sha256:
        raise RuntimeError(f"downloaded {received} bytes of {size}, or not the bytes uploaded")


async def _measured(
    server: Server, size_mib: int, transfer: Callable[[], Awaitable[T]]
) -> tuple[T, _Transfer]:
    """`transfer()` timed, its server CPU counted and the server's memory sampled."""
    pgid = server.pid
    _reset_hwm(pgid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_peak(pgid, stop))
    try:
        cpu, started = server.cpu_seconds(), perf_counter()
        result = await transfer()
        seconds, cpu = perf_counter() - started, server.cpu_seconds() - cpu
    finally:
        stop.set()
        peak, samples = await sampler
    memory = _Memory(peak / MIB, _group_hwm(pgid) / MIB, samples)
    return result, _Transfer(size_mib, seconds, cpu, memory)


# The server's memory


async def _sample_peak(pgid: int, stop: asyncio.Event) -> tuple[int, int]:
    """The largest group RSS in bytes until `stop` is set, and the number of samples."""
    peak, samples, pids = 0, 0, group_pids(pgid)
    while True:
        if samples and samples % MEMBERS_EVERY == 0:
            pids = group_pids(pgid)
        peak = max(peak, _group_rss(pids))
        samples += 1
        if stop.is_set():
            return peak, samples
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_S)


async def _baseline(pgid: int) -> float:
    """The median group RSS in MiB over `BASELINE_S` of idle."""
    await asyncio.sleep(0.5)  # let the warm-up's last response settle
    pids, readings = group_pids(pgid), []
    ends = perf_counter() + BASELINE_S
    while perf_counter() < ends:
        readings.append(_group_rss(pids))
        await asyncio.sleep(SAMPLE_S)
    return statistics.median(readings) / MIB


def _group_rss(pids: Sequence[int]) -> int:
    return sum(status_kib(pid, "VmRSS") for pid in pids) * 1024


def _group_hwm(pgid: int) -> int:
    return sum(status_kib(pid, "VmHWM") for pid in group_pids(pgid)) * 1024


def _reset_hwm(pgid: int) -> None:
    """Reset each group member's VmHWM to its current RSS (Linux: `5` to `clear_refs`)."""
    for pid in group_pids(pgid):
        with suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


# The rows


def _rows(baseline: float, cases: Sequence[_Case]) -> list[Row]:
    rows = [Row("server idle, after warm-up (baseline)", {"rss_mib": baseline})]
    for case in cases:
        rows.append(Row(f"upload {case.size_mib} MiB", _figures(case.upload, baseline)))
    for case in cases:
        download = f"download {case.size_mib} MiB (direct from storage)"
        rows.append(Row(download, _figures(case.download, baseline)))
    by_size = {case.size_mib: case for case in cases}
    small, large = by_size[min(SIZES_MIB)], by_size[max(SIZES_MIB)]
    span = f"{large.size_mib} vs {small.size_mib} MiB"
    rows.append(Row(f"upload {span}: growth difference", _difference(large.upload, small.upload)))
    rows.append(
        Row(f"download {span}: growth difference", _difference(large.download, small.download))
    )
    return rows


def _figures(transfer: _Transfer, baseline: float) -> dict[str, Figure]:
    memory = transfer.memory
    return {
        "mib_per_s": transfer.mib_per_s,
        "seconds": transfer.seconds,
        "server_cpu_s": transfer.server_cpu_s,
        "peak_rss_mib": memory.peak_mib,
        "growth_mib": memory.peak_mib - baseline,
        "hwm_mib": memory.hwm_mib,
        "hwm_growth_mib": memory.hwm_mib - baseline,
        "samples": memory.samples,
    }


def _difference(large: _Transfer, small: _Transfer) -> dict[str, Figure]:
    return {
        "growth_mib": large.memory.peak_mib - small.memory.peak_mib,
        "hwm_growth_mib": large.memory.hwm_mib - small.memory.hwm_mib,
    }
