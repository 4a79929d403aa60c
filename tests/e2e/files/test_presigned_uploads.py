"""Presigned uploads are one-shot and bound (SPEC §3.12), through the whole app on two
stacks: SQLite with the local folder (its links are the app's own route, which checks type
and size itself) and PostgreSQL under row-level security with Redis and S3 (moto's server).

On S3 the link's signature (obstore's) covers neither type nor size: S3 itself would take
another (checked the way S3 checks a signature, `s3_accepts`, as moto checks none), and the
completion must refuse it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from dishka import AsyncContainer

from tessera.features.jobs.application.run_housekeeping import RunHousekeeping
from tessera.shared.application.storage import StoredObject
from tests import services
from tests.e2e.files.conftest import s3_production_app
from tests.e2e.files.test_files import FILES, path_of, signed_in
from tests.e2e.harness import app_storage, on_app_loop, without_embedded_schedules
from tests.e2e.identity.conftest import SECRET, Client, embedded_client
from tests.fakes import s3_server as fake_s3
from tests.fakes.s3_signatures import s3_accepts
from tests.unit.files.samples import PNG

QUOTA = 2_000_000
OTHER_PNG = PNG[:-4] + b"evil"  # a PNG as far as sniffing goes, of the same size


@dataclass
class Stack:
    kind: str  # "local" or "s3"
    client: Client
    http: httpx.AsyncClient

    async def send(self, url: str, data: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """What a client holding the link sends: through the app's route or to the store."""
        if self.kind == "local":
            return await self.client.put(path_of(url), content=data, headers=dict(headers))
        return await self.http.put(url, content=data, headers=dict(headers))

    async def fetch(self, url: str) -> httpx.Response:
        if self.kind == "local":
            return await self.client.get(path_of(url))
        return await self.http.get(url)

    async def stored(self) -> list[StoredObject]:
        return [stored async for stored in (await app_storage(self.client)).list("uploads/")]


@pytest.fixture(
    params=["local", pytest.param("s3", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    without_embedded_schedules(monkeypatch)  # the tests run the housekeeping themselves
    async with httpx.AsyncClient(timeout=30) as http:
        if request.param == "local":
            async with embedded_client(
                tmp_path,
                rate_limit_enabled="false",
                jwt_secret_key=SECRET,
                storage_quota_bytes_per_tenant=str(QUOTA),
            ) as client:
                yield Stack("local", client, http)
            return
        async with (
            services.redis_namespace() as prefix,
            s3_production_app(
                tmp_path,
                prefix,
                request.getfixturevalue("s3_server"),
                storage_quota_bytes_per_tenant=str(QUOTA),
            ) as client,
        ):
            yield Stack("s3", client, http)


async def started(client: Client, headers: dict[str, str], size_bytes: int) -> dict[str, Any]:
    response = await client.post(
        f"{FILES}/uploads",
        json={"content_type": "image/png", "size_bytes": size_bytes, "filename": "scan.png"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def completed(stack: Stack, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    """A 104-byte PNG uploaded through its link and completed: the file and its link."""
    ticket = await started(stack.client, headers, len(PNG))
    assert ticket["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(PNG))}
    if stack.kind == "s3":
        signed = parse_qs(urlsplit(ticket["url"]).query)["X-Amz-SignedHeaders"]
        assert signed == ["host"]
    sent = await stack.send(ticket["url"], PNG, ticket["headers"])
    assert sent.status_code == 200, sent.text
    done = await stack.client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
    assert done.status_code == 200, done.text
    return dict(done.json()["data"]), ticket["url"]


def s3_would_take(url: str, headers: Mapping[str, str]) -> bool:
    return s3_accepts(
        url, method="PUT", headers=headers, secret_access_key=fake_s3.SECRET_ACCESS_KEY
    )


async def test_nothing_sent_to_the_link_after_complete_changes_the_file(stack: Stack) -> None:
    client = stack.client
    headers = await signed_in(client)
    recorded, url = await completed(stack, headers)
    assert (recorded["size_bytes"], recorded["sha256"]) == (
        len(PNG),
        hashlib.sha256(PNG).hexdigest(),
    )
    attacks = [
        (OTHER_PNG, {"Content-Type": "image/png", "Content-Length": str(len(OTHER_PNG))}),
        (b"<html>" + b"x" * 800_000, {"Content-Type": "text/html"}),
        (os.urandom(3_000_000), {"Content-Type": "image/png"}),  # over the 2 MB quota
    ]
    for data, sent_headers in attacks:
        await stack.send(url, data, sent_headers)  # taken or refused, it must not matter
        again = await client.post(f"{FILES}/{recorded['id']}/complete", headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["data"] == recorded
        detail = (await client.get(f"{FILES}/{recorded['id']}", headers=headers)).json()["data"]
        assert (detail["size_bytes"], detail["sha256"]) == (
            recorded["size_bytes"],
            recorded["sha256"],
        )
        download = await stack.fetch(detail["download_url"])
        assert download.status_code == 200
        assert download.content == PNG
        assert download.headers["content-type"].startswith("image/png")
        assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''scan.png"


async def test_an_upload_sent_as_another_content_type_is_refused(stack: Stack) -> None:
    client = stack.client
    headers = await signed_in(client)
    ticket = await started(client, headers, len(PNG))
    as_html = ticket["headers"] | {"Content-Type": "text/html"}  # the declared bytes and size
    sent = await stack.send(ticket["url"], PNG, as_html)
    done = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
    if stack.kind == "local":
        assert sent.status_code == 400
        assert sent.json()["error"]["field"] == "Content-Type"
        assert done.status_code == 409  # nothing arrived; the reservation stays for a retry
    else:
        assert s3_would_take(ticket["url"], as_html)  # the link binds no type
        assert sent.status_code == 200
        assert done.status_code == 400, done.text
        assert done.json()["error"]["code"] == "VALIDATION_ERROR"
        gone = await client.get(f"{FILES}/{ticket['file']['id']}", headers=headers)
        assert gone.status_code == 404
    assert await stack.stored() == []


@pytest.mark.parametrize("size", [len(PNG) - 1, len(PNG) + 1000], ids=["smaller", "larger"])
async def test_an_upload_of_another_size_is_refused(stack: Stack, size: int) -> None:
    client = stack.client
    headers = await signed_in(client)
    ticket = await started(client, headers, len(PNG))
    data = (PNG + b"\x00" * size)[:size]
    own_length = {"Content-Type": "image/png"}  # the client sends its body's own length
    sent = await stack.send(ticket["url"], data, own_length)
    done = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
    if stack.kind == "local":
        assert sent.status_code == 400
        assert sent.json()["error"]["field"] == "Content-Length"
        assert done.status_code == 409
    else:
        assert s3_would_take(ticket["url"], own_length | {"Content-Length": str(size)})
        assert sent.status_code == 200  # the link binds no size
        assert done.status_code == 400, done.text
        assert done.json()["error"]["field"] == "file_id"
    assert await stack.stored() == []


async def test_the_quota_counts_what_is_stored(stack: Stack) -> None:
    client = stack.client
    headers = await signed_in(client)
    recorded, url = await completed(stack, headers)
    await stack.send(url, os.urandom(3_000_000), {"Content-Type": "image/png"})

    async def housekeeping(container: AsyncContainer) -> dict[str, int]:
        async with container() as scope:
            return await (await scope.get(RunHousekeeping)).execute()

    await on_app_loop(client, housekeeping)  # what a link wrote after complete goes at once

    files = (await client.get(FILES, headers=headers)).json()["data"]
    stored = await stack.stored()
    assert [file["id"] for file in files] == [recorded["id"]]
    assert sum(file["size_bytes"] for file in files) == len(PNG)
    assert [item.size_bytes for item in stored] == [len(PNG)]
    assert (await started(client, headers, QUOTA - len(PNG)))["file"]["status"] == "pending"
    over = await client.post(
        f"{FILES}/uploads", headers=headers, json={"content_type": "image/png", "size_bytes": 1}
    )
    assert over.status_code == 409


async def test_a_declared_size_over_the_limit_is_a_400_naming_size_bytes(stack: Stack) -> None:
    headers = await signed_in(stack.client)
    response = await stack.client.post(
        f"{FILES}/uploads",
        headers=headers,
        json={"content_type": "image/gif", "size_bytes": 2_487_941_809},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "size_bytes")
    assert error["details"]["max_bytes"] > 0
