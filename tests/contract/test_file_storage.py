"""The `FileStorage` contract, run against the local folder and against S3 (moto's server).

Links are followed the way a client would: for S3 with httpx straight to the (moto) store,
for the local folder through the app's own `/api/v1/storage/objects` route. moto checks
neither signatures nor expiry, so for S3 the tests prove a link's shape and its expiry
parameter, and that the store serves it; what S3 would make of obstore's signatures is
checked in `test_s3_signing.py`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tessera.shared.adapters.local_storage import LocalFileStorage, StorageGrant, UrlSigner
from tessera.shared.adapters.s3_storage import S3Config, S3FileStorage
from tessera.shared.application.storage import FileStorage, InvalidKey, ObjectNotFound
from tessera.shared.domain.errors import DependencyUnavailable
from tests.e2e.harness import app_storage, client_for, settings_for
from tests.fakes import s3_server as fake_s3
from tests.fakes.memory_storage import MemoryStorage
from tests.fakes.s3_server import FakeS3Server

MiB = 1024 * 1024
Fetch = Callable[..., Awaitable[httpx.Response]]


@dataclass
class Subject:
    storage: FileStorage
    fetch: Fetch  # fetch(method, url, content=..., headers=...) as a client holding the link
    kind: str


@asynccontextmanager
async def opened(
    kind: str, request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[Subject]:
    if kind == "local":
        settings = settings_for(jwt_secret_key="s" * 40, data_dir=str(tmp_path))
        async with client_for(settings) as client:
            storage = await app_storage(client)
            assert isinstance(storage, LocalFileStorage)
            yield Subject(storage, _through_app(client), "local")
        return
    server: FakeS3Server = request.getfixturevalue("s3_server")
    storage = S3FileStorage(_s3_config(server.endpoint_url, server.create_bucket()))
    async with httpx.AsyncClient(timeout=30) as http:

        async def fetch(method: str, url: str, **kwargs: Any) -> httpx.Response:
            return await http.request(method, url, **kwargs)

        yield Subject(storage, fetch, "s3")


@pytest.fixture(params=["local", "s3"])
async def subject(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Subject]:
    """An adapter and a way to follow its links."""
    async with opened(request.param, request, tmp_path) as found:
        yield found


@pytest.fixture(params=["local", "s3", "memory"])
async def storage(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[FileStorage]:
    """Each adapter, then the use-case tests' `MemoryStorage`."""
    if request.param == "memory":
        yield MemoryStorage()
        return
    async with opened(request.param, request, tmp_path) as found:
        yield found.storage


def _s3_config(endpoint: str, bucket: str) -> S3Config:
    return S3Config(
        endpoint_url=endpoint,
        bucket=bucket,
        region=fake_s3.REGION,
        access_key_id=fake_s3.ACCESS_KEY_ID,
        secret_access_key=fake_s3.SECRET_ACCESS_KEY,
    )


def _through_app(client: AsyncTestClient[Any]) -> Fetch:
    async def fetch(method: str, url: str, **kwargs: Any) -> httpx.Response:
        parts = urlsplit(url)
        assert parts.scheme == "http"
        assert parts.netloc == "localhost:8000", "links use PUBLIC_BASE_URL"
        return await client.request(method, f"{parts.path}?{parts.query}", **kwargs)

    return fetch


async def _read(storage: FileStorage, key: str, chunk_bytes: int = MiB) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key, chunk_bytes=chunk_bytes)])


async def _keys(storage: FileStorage, prefix: str) -> list[str]:
    return [stored.key async for stored in storage.list(prefix)]


async def test_an_object_reads_back_with_its_type_and_metadata(storage: FileStorage) -> None:
    stored = await storage.put(
        "uploads/documents/1.pdf",
        b"%PDF-1.7 hello",
        content_type="application/pdf",
        metadata={"Tenant-Id": "t1", "uploaded-by": "u1"},
    )
    assert stored.key == "uploads/documents/1.pdf"
    assert stored.size_bytes == 14
    assert stored.content_type == "application/pdf"
    assert dict(stored.metadata) == {"tenant-id": "t1", "uploaded-by": "u1"}

    head = await storage.head("uploads/documents/1.pdf")
    assert head.size_bytes == 14
    assert head.content_type == "application/pdf"
    assert dict(head.metadata) == {"tenant-id": "t1", "uploaded-by": "u1"}
    assert head.etag
    assert head.last_modified is not None
    assert abs(head.last_modified - datetime.now(UTC)) < timedelta(minutes=1)
    assert await _read(storage, "uploads/documents/1.pdf") == b"%PDF-1.7 hello"


async def test_an_async_iterable_body_is_stored_whole(storage: FileStorage) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"", b"two,", b"three"):
            yield part

    stored = await storage.put("exports/a.csv", parts(), content_type="text/csv")
    assert stored.size_bytes == len(b"one,two,three")
    assert await _read(storage, "exports/a.csv") == b"one,two,three"
    assert (await storage.head("exports/a.csv")).size_bytes == 13


async def test_keys_with_spaces_and_non_ascii_round_trip(storage: FileStorage) -> None:
    key = "uploads/Résumé final 2026 ✓.txt"
    await storage.put(key, "ça marche".encode(), content_type="text/plain; charset=utf-8")
    assert (await storage.head(key)).key == key
    assert await _read(storage, key) == "ça marche".encode()
    assert await _keys(storage, "uploads/") == [key]


async def test_a_16_mib_object_streams_in_and_out_in_bounded_chunks(storage: FileStorage) -> None:
    data = os.urandom(16 * MiB + 123)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for start in range(0, len(data), 3 * MiB):
            sent += 1
            yield data[start : start + 3 * MiB]

    stored = await storage.put("backups/big.bin", body(), content_type="application/octet-stream")
    assert sent == 6
    assert stored.size_bytes == len(data)
    digest = hashlib.sha256()
    sizes = []
    async for chunk in storage.open("backups/big.bin", chunk_bytes=MiB):
        sizes.append(len(chunk))
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert max(sizes) <= MiB
    assert sum(sizes) == len(data)


async def test_a_small_chunk_size_is_respected(storage: FileStorage) -> None:
    await storage.put("a/b.txt", b"x" * 1000, content_type="text/plain")
    sizes = [len(chunk) async for chunk in storage.open("a/b.txt", chunk_bytes=64)]
    assert max(sizes) <= 64
    assert sum(sizes) == 1000


async def test_put_replaces_an_object_with_its_type_and_metadata(storage: FileStorage) -> None:
    await storage.put(
        "k.txt",
        b"old and longer",
        content_type="text/plain",
        metadata={"v": "1"},
        download_name="old.txt",
    )
    await storage.put("k.txt", b"new", content_type="text/markdown", metadata={"w": "2"})
    head = await storage.head("k.txt")
    assert (head.size_bytes, head.content_type, dict(head.metadata), head.download_name) == (
        3,
        "text/markdown",
        {"w": "2"},
        None,
    )
    assert await _read(storage, "k.txt") == b"new"
    assert await _keys(storage, "") == ["k.txt"]


async def test_a_read_is_of_one_version_while_the_object_is_replaced(
    storage: FileStorage,
) -> None:
    first = os.urandom(3 * MiB)
    await storage.put("uploads/incoming/1.bin", first, content_type="application/pdf")
    chunks = storage.open("uploads/incoming/1.bin", chunk_bytes=64 * 1024)
    read = [await anext(chunks)]
    await storage.put("uploads/incoming/1.bin", b"<html>other", content_type="text/html")
    read += [chunk async for chunk in chunks]
    assert b"".join(read) == first
    assert await _read(storage, "uploads/incoming/1.bin") == b"<html>other"


async def test_a_put_whose_body_fails_leaves_the_object_as_it_was(storage: FileStorage) -> None:
    await storage.put("k.pdf", b"%PDF old", content_type="application/pdf", download_name="a")

    class Refused(Exception):
        pass

    async def refused_at_the_end() -> AsyncIterator[bytes]:
        yield b"x" * (6 * MiB)  # past one multipart part on S3
        raise Refused()

    with pytest.raises(Refused):
        await storage.put("k.pdf", refused_at_the_end(), content_type="text/plain")
    head = await storage.head("k.pdf")
    assert (head.size_bytes, head.content_type, head.download_name) == (8, "application/pdf", "a")
    assert await _read(storage, "k.pdf") == b"%PDF old"


async def test_delete_removes_the_object_and_is_idempotent(storage: FileStorage) -> None:
    await storage.put("avatars/u1/avatar-v1.png", b"png", content_type="image/png")
    await storage.delete("avatars/u1/avatar-v1.png")
    await storage.delete("avatars/u1/avatar-v1.png")
    await storage.delete("never/there.txt")
    with pytest.raises(ObjectNotFound):
        await storage.head("avatars/u1/avatar-v1.png")
    assert await _keys(storage, "avatars/") == []


async def test_a_missing_object_is_object_not_found(storage: FileStorage) -> None:
    with pytest.raises(ObjectNotFound):
        await storage.head("uploads/missing.pdf")
    chunks = storage.open("uploads/missing.pdf")  # lazily: raised on the first iteration
    with pytest.raises(ObjectNotFound):
        await anext(chunks)


async def test_list_returns_the_prefix_in_key_order(storage: FileStorage) -> None:
    keys = (
        "uploads/documents/b.pdf",
        "uploads/documents/a.pdf",
        "uploads/documentsX.pdf",
        "uploads/documents/sub/c.pdf",
        "uploads/other/d.pdf",
        "backups/e.gz",
        "uploads/É.txt",
    )
    for key in keys:
        await storage.put(key, key.encode(), content_type="application/pdf")
    assert await _keys(storage, "uploads/documents/") == [
        "uploads/documents/a.pdf",
        "uploads/documents/b.pdf",
        "uploads/documents/sub/c.pdf",
    ]
    assert await _keys(storage, "uploads/doc") == [  # a prefix need not end at a "/"
        "uploads/documents/a.pdf",
        "uploads/documents/b.pdf",
        "uploads/documents/sub/c.pdf",
        "uploads/documentsX.pdf",
    ]
    everything = await _keys(storage, "")
    assert everything == sorted(everything, key=lambda k: k.encode())
    assert len(everything) == 7
    assert await _keys(storage, "nothing/") == []
    listed = [s async for s in storage.list("uploads/other/")]
    assert [(s.key, s.size_bytes) for s in listed] == [("uploads/other/d.pdf", 19)]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../etc/passwd",
        "uploads/../../etc/passwd",
        "/abs",
        "a\\b",
        "bell\x07.txt",
        "line\nbreak",
        "del\x7f",
        "a//b",
        "trailing/",
        "./x",
        "k" * 1025,
        "é" * 513,
    ],
)
async def test_invalid_keys_are_refused_by_every_method(storage: FileStorage, key: str) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.put(key, b"x", content_type="text/plain"),
        lambda: storage.head(key),
        lambda: storage.delete(key),
        lambda: anext(storage.open(key)),
        lambda: storage.download_url(key, expires_in=timedelta(minutes=5)),
        lambda: storage.presign_upload(
            key, content_type="text/plain", size_bytes=1, expires_in=timedelta(minutes=5)
        ),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            await call()
    if key.startswith(("/", "../")) or "\\" in key or "\x07" in key:
        with pytest.raises(InvalidKey):
            await anext(storage.list(key))


async def test_a_download_link_serves_the_object_until_it_expires(subject: Subject) -> None:
    storage = subject.storage
    await storage.put("uploads/r.pdf", b"%PDF report", content_type="application/pdf")
    before = datetime.now(UTC)
    url = await storage.download_url("uploads/r.pdf", expires_in=timedelta(minutes=15))
    assert _expires_at(url, subject.kind, before) - before == pytest.approx(
        timedelta(minutes=15), abs=timedelta(seconds=2)
    )
    response = await subject.fetch("GET", url)
    assert response.status_code == 200
    assert response.content == b"%PDF report"
    assert response.headers["content-type"].startswith("application/pdf")
    assert "content-disposition" not in response.headers  # stored without a download name


async def test_an_object_with_a_download_name_downloads_as_an_attachment(
    subject: Subject,
) -> None:
    storage = subject.storage
    name = 'Résumé "final";\r\n.pdf'
    stored = await storage.put(
        "uploads/documents/9.pdf", b"%PDF", content_type="application/pdf", download_name=name
    )
    assert stored.download_name == name
    assert (await storage.head("uploads/documents/9.pdf")).download_name == name
    url = await storage.download_url("uploads/documents/9.pdf", expires_in=timedelta(minutes=5))
    response = await subject.fetch("GET", url)
    assert response.status_code == 200
    assert response.content == b"%PDF"
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%3B%0D%0A.pdf"
    )
    assert response.headers["content-type"].startswith("application/pdf")


async def test_an_upload_link_stores_what_the_client_puts(subject: Subject) -> None:
    storage = subject.storage
    before = datetime.now(UTC)
    body = os.urandom(2 * MiB + 5)  # past the API's 1 MiB JSON limit
    upload = await storage.presign_upload(
        "uploads/documents/7.png",
        content_type="image/png",
        size_bytes=len(body),
        expires_in=timedelta(minutes=10),
    )
    assert upload.method == "PUT"
    assert dict(upload.headers) == {"Content-Type": "image/png", "Content-Length": str(len(body))}
    assert upload.expires_at - before == pytest.approx(
        timedelta(minutes=10), abs=timedelta(seconds=2)
    )
    response = await subject.fetch(
        upload.method, upload.url, content=body, headers=dict(upload.headers)
    )
    assert response.status_code == 200, response.text
    head = await storage.head("uploads/documents/7.png")
    assert head.size_bytes == len(body)
    assert head.content_type == "image/png"
    assert await _read(storage, "uploads/documents/7.png") == body


async def test_ping_answers(storage: FileStorage) -> None:
    await storage.ping()


def _expires_at(url: str, kind: str, signed_at: datetime) -> datetime:
    query = parse_qs(urlsplit(url).query)
    if kind == "s3":
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs(signed - signed_at) < timedelta(seconds=2)
        return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    token = unquote(query["token"][0])
    signer = UrlSigner.from_jwt_secret("s" * 40)
    return datetime.fromtimestamp(signer.verify(token, "GET").expires_at, UTC)


# S3 only: a store that does not answer


async def test_an_s3_endpoint_where_nothing_listens_is_dependency_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = S3Config(
        endpoint_url=f"http://127.0.0.1:{port}",
        bucket="b",
        access_key_id="a",
        secret_access_key="s",
        max_retries=1,
        retry_timeout=timedelta(seconds=2),
    )
    storage: FileStorage = S3FileStorage(config)
    calls: list[Callable[[], Awaitable[Any]]] = [
        storage.ping,
        lambda: storage.head("k"),
        lambda: storage.put("k", b"x", content_type="text/plain"),
        lambda: storage.delete("k"),
        lambda: anext(storage.open("k")),
        lambda: anext(storage.list("")),
    ]
    for call in calls:
        with pytest.raises(DependencyUnavailable):
            await call()


# Local only: the app route behind its links


@pytest.fixture
async def local_app(tmp_path: Any) -> AsyncIterator[tuple[AsyncTestClient[Any], FileStorage]]:
    settings = settings_for(jwt_secret_key="s" * 40, data_dir=str(tmp_path))
    async with client_for(settings) as client:
        yield client, await app_storage(client)


def _route(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_local_links_refuse_expired_tampered_and_cross_method_tokens(
    local_app: tuple[AsyncTestClient[Any], FileStorage],
) -> None:
    client, storage = local_app
    await storage.put("k.txt", b"secret", content_type="text/plain")
    good = await storage.download_url("k.txt", expires_in=timedelta(minutes=5))
    token = parse_qs(urlsplit(good).query)["token"][0]
    payload, mac = token.split(".")
    expired = UrlSigner.from_jwt_secret("s" * 40).sign(
        StorageGrant("k.txt", "GET", int(time.time()) - 1)
    )
    other_key = UrlSigner.from_jwt_secret("t" * 40).sign(StorageGrant("k.txt", "GET", 2**40))
    upload = await storage.presign_upload(
        "k.txt", content_type="text/plain", size_bytes=1, expires_in=timedelta(minutes=5)
    )
    bad_tokens = [
        expired,
        f"{payload}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}",  # tampered mac
        f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}",  # tampered payload
        other_key,  # signed with another deployment's secret
        parse_qs(urlsplit(upload.url).query)["token"][0],  # a PUT token used to GET
        "garbage",
        "",
        "a.b.c",
        "é.é",
    ]
    for bad in bad_tokens:
        response = await client.get("/api/v1/storage/objects", params={"token": bad})
        assert response.status_code == 403, bad
        assert response.json()["status"] == "error"
        assert response.json()["error"]["code"] == "FORBIDDEN"
    missing = await client.get("/api/v1/storage/objects")
    assert missing.status_code == 400
    assert (await client.get(_route(good))).content == b"secret"


async def test_local_download_headers_and_missing_objects(
    local_app: tuple[AsyncTestClient[Any], FileStorage],
) -> None:
    client, storage = local_app
    await storage.put("k.txt", b"x", content_type="text/plain")
    url = await storage.download_url("k.txt", expires_in=timedelta(minutes=5))
    response = await client.get(_route(url))
    assert response.headers["cache-control"] == "private, no-store"
    assert "content-disposition" not in response.headers
    await storage.delete("k.txt")
    gone = await client.get(_route(url))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "NOT_FOUND"


async def test_local_upload_needs_the_signed_content_type(
    local_app: tuple[AsyncTestClient[Any], FileStorage],
) -> None:
    client, storage = local_app
    upload = await storage.presign_upload(
        "u.png", content_type="image/png", size_bytes=4, expires_in=timedelta(minutes=5)
    )
    wrong = await client.put(
        _route(upload.url), content=b"x", headers={"Content-Type": "text/html"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "VALIDATION_ERROR"
    with pytest.raises(ObjectNotFound):
        await storage.head("u.png")
    download = await storage.download_url("u.png", expires_in=timedelta(minutes=5))
    as_get_token = await client.put(
        _route(download), content=b"x", headers={"Content-Type": "image/png"}
    )
    assert as_get_token.status_code == 403
    ok = await client.put(
        _route(upload.url), content=b"\x89PNG", headers={"Content-Type": "image/png"}
    )
    assert ok.status_code == 200
    assert ok.json()["data"] == {"key": "u.png", "size_bytes": 4, "content_type": "image/png"}


async def test_local_upload_needs_the_signed_size(
    local_app: tuple[AsyncTestClient[Any], FileStorage],
) -> None:
    client, storage = local_app
    upload = await storage.presign_upload(
        "u.png", content_type="image/png", size_bytes=4, expires_in=timedelta(minutes=5)
    )
    png = {"Content-Type": "image/png"}
    unsized = UrlSigner.from_jwt_secret("s" * 40).sign(
        StorageGrant("u.png", "PUT", 2**40, content_type="image/png")
    )
    refusals = [
        await client.put(_route(upload.url), content=b"\x89PNG!", headers=png),  # longer
        await client.put(_route(upload.url), content=b"\x89PN", headers=png),  # shorter
        await client.put(  # a Content-Length that lies about a longer body
            _route(upload.url), content=b"\x89PNG" * 1000, headers=png | {"Content-Length": "4"}
        ),
        await client.put(  # a link without a size (none is made so)
            "/api/v1/storage/objects", params={"token": unsized}, content=b"\x89PNG", headers=png
        ),
    ]
    for refused in refusals:
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
        assert refused.json()["error"]["field"] == "Content-Length"
    with pytest.raises(ObjectNotFound):
        await storage.head("u.png")
    ok = await client.put(_route(upload.url), content=b"\x89PNG", headers=png)
    assert ok.status_code == 200, ok.text
    assert (await storage.head("u.png")).size_bytes == 4
