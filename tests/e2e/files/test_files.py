"""Files (SPEC §3.6) through the real app: upload, list, metadata, download through the
link, delete; refusals by type, size and quota; and tenant isolation for every role. On
SQLite with local storage, and once on PostgreSQL under row-level security with Redis."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import urlsplit

import pytest

from tessera.shared.application.storage import ObjectNotFound
from tests.e2e.files.conftest import SMALL_FILE_BYTES, SMALL_QUOTA_BYTES
from tests.e2e.harness import app_storage
from tests.e2e.identity.conftest import Client, bearer, login, register
from tests.e2e.world import build_world
from tests.unit.files.samples import DOCX, EXE, HTML, PDF, PLAIN_ZIP, PNG, SVG, TEXT

FILES = "/api/v1/files"


async def signed_in(client: Client, email: str = "alice@example.com") -> dict[str, str]:
    await register(client, email)
    return bearer(await login(client, email))


async def upload(
    client: Client,
    headers: dict[str, str],
    data: bytes,
    name: str = "a.bin",
    content_type: str = "application/octet-stream",
) -> Any:
    return await client.post(FILES, files={"file": (name, data, content_type)}, headers=headers)


async def uploaded(
    client: Client, headers: dict[str, str], data: bytes, name: str = "a.bin"
) -> dict[str, Any]:
    response = await upload(client, headers, data, name)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def the_whole_life_of_a_file(client: Client) -> None:
    headers = await signed_in(client)
    file = await uploaded(client, headers, PDF, name="../../etc/passwd")
    assert file["original_name"] == "passwd"
    assert file["kind"] == "document"
    assert file["content_type"] == "application/pdf"
    assert file["size_bytes"] == len(PDF)
    assert file["status"] == "ready"
    assert file["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert "storage_key" not in file
    key = f"uploads/documents/{file['id']}.pdf"
    stored = await (await app_storage(client)).head(key)
    assert stored.size_bytes == len(PDF)
    assert stored.content_type == "application/pdf"
    assert stored.metadata["user_id"] == file["user_id"]
    assert stored.metadata["size_bytes"] == str(len(PDF))
    assert stored.metadata["content_type"] == "application/pdf"
    assert stored.metadata["uploaded_at"]

    listing = await client.get(FILES, headers=headers)
    assert listing.status_code == 200, listing.text
    assert [f["id"] for f in listing.json()["data"]] == [file["id"]]
    assert listing.json()["pagination"]["total_items"] == 1

    detail = await client.get(f"{FILES}/{file['id']}", headers=headers)
    assert detail.status_code == 200, detail.text
    url = detail.json()["data"]["download_url"]
    download = await client.get(path_of(url))  # the link alone, no token needed
    assert download.status_code == 200, download.text
    assert download.content == PDF
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''passwd"

    removed = await client.delete(f"{FILES}/{file['id']}", headers=headers)
    assert removed.status_code == 200, removed.text
    assert (await client.get(f"{FILES}/{file['id']}", headers=headers)).status_code == 404
    with pytest.raises(ObjectNotFound):
        await (await app_storage(client)).head(key)
    assert (await client.get(path_of(url))).status_code == 404
    assert (await client.get(FILES, headers=headers)).json()["data"] == []


async def test_a_file_is_uploaded_listed_downloaded_and_deleted(client: Client) -> None:
    await the_whole_life_of_a_file(client)


@pytest.mark.postgres
@pytest.mark.redis
async def test_and_so_on_postgresql_under_row_level_security(production_client: Client) -> None:
    await the_whole_life_of_a_file(production_client)


async def test_the_bytes_decide_the_type_never_the_name(client: Client) -> None:
    headers = await signed_in(client)
    png = await uploaded(client, headers, PNG, name="invoice.pdf")
    assert png["content_type"] == "image/png"
    assert png["kind"] == "image"
    assert png["original_name"] == "invoice.pdf"
    await (await app_storage(client)).head(f"uploads/images/{png['id']}.png")
    docx = await uploaded(client, headers, DOCX, name="cv")
    assert docx["content_type"].endswith("wordprocessingml.document")
    text = await uploaded(client, headers, TEXT, name="notes")
    assert text["content_type"] == "text/plain"
    detail = await client.get(f"{FILES}/{docx['id']}", headers=headers)
    link = detail.json()["data"]["download_url"]
    assert (await client.get(path_of(link))).content == DOCX


@pytest.mark.parametrize(
    ("data", "name"),
    [(HTML, "page.txt"), (SVG, "logo.png"), (EXE, "setup.pdf"), (PLAIN_ZIP, "report.docx")],
)
async def test_markup_executables_and_plain_zips_are_refused(
    client: Client, data: bytes, name: str
) -> None:
    headers = await signed_in(client)
    response = await upload(client, headers, data, name, content_type="application/pdf")
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("UNSUPPORTED_MEDIA_TYPE", "file")
    assert "application/pdf" in error["details"]["accepted"]
    assert [o async for o in (await app_storage(client)).list("uploads/")] == []
    assert (await client.get(FILES, headers=headers)).json()["data"] == []


async def test_a_request_without_exactly_one_file_part_is_refused(client: Client) -> None:
    headers = await signed_in(client)
    wrong_field = await client.post(FILES, files={"upload": ("a", PDF)}, headers=headers)
    assert wrong_field.status_code == 400
    assert wrong_field.json()["error"]["field"] == "file"
    empty = await upload(client, headers, b"", "empty.txt")
    assert empty.status_code == 400
    assert (await client.post(FILES, headers=headers)).status_code in (400, 415)
    anonymous = await client.post(FILES, files={"file": ("a", PDF)})
    assert anonymous.status_code == 401


async def test_over_the_file_limit_is_413_and_nothing_is_kept(small_client: Client) -> None:
    client = small_client
    headers = await signed_in(client)
    exact = await upload(client, headers, b"a" * SMALL_FILE_BYTES, "full.txt")
    assert exact.status_code == 201, exact.text
    over = await upload(client, headers, b"a" * (SMALL_FILE_BYTES + 1), "over.txt")
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    far_over = await upload(client, headers, b"a" * (200 * 1024), "far.txt")  # past the body cap
    assert far_over.status_code == 413
    listing = (await client.get(FILES, headers=headers)).json()["data"]
    assert [f["original_name"] for f in listing] == ["full.txt"]
    assert len([o async for o in (await app_storage(client)).list("uploads/")]) == 1


async def test_over_the_tenant_quota_is_409(small_client: Client) -> None:
    client = small_client
    headers = await signed_in(client)
    for n in range(2):
        assert (await upload(client, headers, b"b" * 4000, f"{n}.txt")).status_code == 201
    refused = await upload(client, headers, b"c" * 2001, "third.txt")  # 8,000 + 2,001 > 10,000
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["details"] == {
        "quota_bytes": SMALL_QUOTA_BYTES,
        "used_bytes": 8000,
        "incoming_bytes": 2001,
    }
    assert (await upload(client, headers, b"c" * 2000, "fits.txt")).status_code == 201
    # the quota is per tenant: another tenant still has all of its own
    other = await signed_in(client, "bob@example.com")
    assert (await upload(client, other, b"d" * 4000, "x.txt")).status_code == 201
    assert len([o async for o in (await app_storage(client)).list("uploads/")]) == 4


async def test_uploads_racing_for_the_last_room_in_the_quota_never_both_fit(
    small_client: Client,
) -> None:
    client = small_client
    headers = await signed_in(client)
    assert (await upload(client, headers, b"a" * 4000, "first.txt")).status_code == 201
    # 6,000 bytes left: each of these fits alone, two of them do not
    racing = await asyncio.gather(
        *(upload(client, headers, bytes([98 + n]) * 3500, f"{n}.txt") for n in range(4))
    )
    codes = sorted(response.status_code for response in racing)
    assert codes == [201, 409, 409, 409], [r.text for r in racing]
    listed = await client.get(FILES, headers=headers)
    assert sum(f["size_bytes"] for f in listed.json()["data"]) == 7500
    assert len([o async for o in (await app_storage(client)).list("uploads/")]) == 2


async def test_the_list_pages_sorts_and_filters(client: Client) -> None:
    headers = await signed_in(client)
    await uploaded(client, headers, PDF, "Budget 100%.pdf")
    await uploaded(client, headers, PNG, "budget_photo.png")
    await uploaded(client, headers, TEXT, "budgetXphoto.txt")
    first = await client.get(
        FILES, params={"limit": 2, "sort": "uploaded_at", "order": "asc"}, headers=headers
    )
    body = first.json()
    assert [f["original_name"] for f in body["data"]] == ["Budget 100%.pdf", "budget_photo.png"]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total_items": 3,
        "total_pages": 2,
        "has_next": True,
        "has_prev": False,
    }

    async def names(**params: Any) -> list[str]:
        response = await client.get(FILES, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [f["original_name"] for f in response.json()["data"]]

    assert await names(search="BUDGET_") == ["budget_photo.png"]
    assert await names(search="0%") == ["Budget 100%.pdf"]
    assert await names(kind="image") == ["budget_photo.png"]
    assert await names(content_type="text/plain") == ["budgetXphoto.txt"]
    by_size = sorted([(len(PDF), "Budget 100%.pdf"), (len(TEXT), "budgetXphoto.txt")])
    assert await names(sort="size_bytes", order="asc", kind="document") == [
        name for _, name in by_size
    ]
    assert await names(uploaded_after="2999-01-01T00:00:00Z") == []
    for bad in ({"limit": 101}, {"sort": "sha256"}, {"kind": "video"}):
        refused = await client.get(FILES, params=bad, headers=headers)
        assert refused.status_code == 400, bad
    when = await client.get(FILES, params={"uploaded_after": "yesterday"}, headers=headers)
    assert when.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "field": "uploaded_after",
        "message": "uploaded_after must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z.",
    }


async def test_other_tenants_never_see_nor_delete_a_file(client: Client) -> None:
    world = await build_world(client)
    h = world.headers
    secret_name = "acme-secret-plan.pdf"
    by_user = await uploaded(client, h["acme_user"], PDF, secret_name)
    by_admin = await uploaded(client, h["acme_admin"], TEXT, "acme-admin-notes.txt")
    for who in ("globex_admin", "globex_user"):
        for method in ("GET", "DELETE"):
            response = await client.request(method, f"{FILES}/{by_user['id']}", headers=h[who])
            assert response.status_code == 404, (who, method)
            assert secret_name not in response.text
        own = await client.get(FILES, headers=h[who])
        assert own.status_code == 200
        assert secret_name not in own.text
        named = await client.get(FILES, params={"tenant_id": world.acme}, headers=h[who])
        assert named.status_code == 404
        assert secret_name not in named.text
    # inside Acme: everyone reads; a user deletes only its own files
    colleague = await client.get(f"{FILES}/{by_user['id']}", headers=h["acme_admin"])
    assert colleague.status_code == 200
    not_theirs = await client.delete(f"{FILES}/{by_admin['id']}", headers=h["acme_user"])
    assert not_theirs.status_code == 403
    assert not_theirs.json()["error"]["code"] == "FORBIDDEN"
    # an admin sees any tenant's files when it names the tenant
    listed = await client.get(FILES, params={"tenant_id": world.acme}, headers=h["admin"])
    assert {f["id"] for f in listed.json()["data"]} == {by_user["id"], by_admin["id"]}
    # and nothing of Acme's changed
    still = await client.get(FILES, headers=h["acme_user"])
    assert {f["id"] for f in still.json()["data"]} == {by_user["id"], by_admin["id"]}
    # the tenant admin deletes the user's file
    for file in (by_user, by_admin):
        gone = await client.delete(f"{FILES}/{file['id']}", headers=h["acme_admin"])
        assert gone.status_code == 200
    assert (await client.get(FILES, headers=h["acme_user"])).json()["data"] == []


async def test_an_admin_deletes_a_file_of_any_tenant(client: Client) -> None:
    world = await build_world(client)
    file = await uploaded(client, world.headers["globex_user"], PNG, "g.png")
    detail = await client.get(f"{FILES}/{file['id']}", headers=world.headers["admin"])
    assert detail.status_code == 200
    assert detail.json()["data"]["original_name"] == "g.png"
    removed = await client.delete(f"{FILES}/{file['id']}", headers=world.headers["admin"])
    assert removed.status_code == 200
    listing = await client.get(FILES, headers=world.headers["globex_user"])
    assert listing.json()["data"] == []


async def start_upload(client: Client, headers: dict[str, str], **body: Any) -> Any:
    return await client.post(f"{FILES}/uploads", json=body, headers=headers)


async def put_bytes(client: Client, ticket: dict[str, Any], data: bytes) -> None:
    assert ticket["method"] == "PUT"
    sent = await client.put(path_of(ticket["url"]), content=data, headers=ticket["headers"])
    assert sent.status_code in (200, 201, 204), sent.text


async def test_a_presigned_upload_is_completed_into_a_ready_file(client: Client) -> None:
    headers = await signed_in(client)
    started = await start_upload(
        client,
        headers,
        content_type="application/pdf",
        size_bytes=len(PDF),
        filename="../big/report.pdf",
    )
    assert started.status_code == 201, started.text
    ticket = started.json()["data"]
    file = ticket["file"]
    assert file["status"] == "pending"
    assert file["original_name"] == "report.pdf"
    assert ticket["headers"]["Content-Type"] == "application/pdf"
    early = await client.post(f"{FILES}/{file['id']}/complete", headers=headers)
    assert early.status_code == 409  # nothing uploaded yet; the reservation stays
    assert early.json()["error"]["code"] == "CONFLICT"
    await put_bytes(client, ticket, PDF)
    done = await client.post(f"{FILES}/{file['id']}/complete", headers=headers)
    assert done.status_code == 200, done.text
    ready = done.json()["data"]
    assert ready["status"] == "ready"
    assert ready["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert ready["size_bytes"] == len(PDF)
    detail = (await client.get(f"{FILES}/{file['id']}", headers=headers)).json()["data"]
    download = await client.get(path_of(detail["download_url"]))
    assert download.content == PDF
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''report.pdf"


async def test_a_declared_checksum_must_match_what_arrived(client: Client) -> None:
    headers = await signed_in(client)
    right = hashlib.sha256(PDF).hexdigest()
    for declared, expected in ((right.upper(), 200), ("0" * 64, 400)):
        started = await start_upload(
            client, headers, content_type="application/pdf", size_bytes=len(PDF), sha256=declared
        )
        assert started.status_code == 201, started.text
        ticket = started.json()["data"]
        await put_bytes(client, ticket, PDF)
        done = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
        assert done.status_code == expected, done.text
    (kept,) = (await client.get(FILES, headers=headers)).json()["data"]
    assert kept["sha256"] == right
    assert len([o async for o in (await app_storage(client)).list("uploads/")]) == 1
    bad = await start_upload(
        client, headers, content_type="application/pdf", size_bytes=len(PDF), sha256="not-hex"
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "sha256"


async def test_a_presigned_upload_of_other_bytes_is_removed_with_a_400(client: Client) -> None:
    headers = await signed_in(client)
    started = await start_upload(
        client, headers, content_type="image/png", size_bytes=len(HTML), filename="x.png"
    )
    ticket = started.json()["data"]
    await put_bytes(client, ticket, HTML)
    refused = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
    assert refused.status_code == 400, refused.text
    assert (await client.get(f"{FILES}/{ticket['file']['id']}", headers=headers)).status_code == 404
    assert [o async for o in (await app_storage(client)).list("uploads/")] == []


async def test_a_presigned_upload_larger_than_declared_is_removed(client: Client) -> None:
    headers = await signed_in(client)
    ticket = (await start_upload(client, headers, content_type="text/plain", size_bytes=10)).json()[
        "data"
    ]
    longer = b"far more than ten bytes of text"
    sent = await client.put(
        path_of(ticket["url"]), content=longer, headers={"Content-Type": "text/plain"}
    )
    assert sent.status_code == 400  # the link takes exactly 10 bytes
    storage = await app_storage(client)  # a store that took it anyway: the completion refuses
    await storage.put(
        f"uploads/incoming/{ticket['file']['id']}.txt", longer, content_type="text/plain"
    )
    refused = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
    assert refused.status_code == 400, refused.text
    assert [o async for o in storage.list("uploads/")] == []


async def test_a_presigned_upload_is_refused_for_bad_types_sizes_and_quota(
    small_client: Client,
) -> None:
    client = small_client
    headers = await signed_in(client)
    html = await start_upload(client, headers, content_type="text/html", size_bytes=10)
    assert html.status_code == 415, html.text  # the answer `POST /files` gives an HTML file
    refused = html.json()["error"]
    assert (refused["code"], refused["field"]) == ("UNSUPPORTED_MEDIA_TYPE", "content_type")
    assert "text/html" not in refused["details"]["accepted"]
    assert "text/plain" in refused["details"]["accepted"]
    too_big = await start_upload(
        client, headers, content_type="application/pdf", size_bytes=SMALL_FILE_BYTES + 1
    )
    assert too_big.status_code == 400, too_big.text  # a field too, not the (small) body
    assert too_big.json()["error"]["field"] == "size_bytes"
    for _ in range(2):
        fits = await start_upload(client, headers, content_type="text/plain", size_bytes=4000)
        assert fits.status_code == 201  # pending reservations count against the quota
    over = await start_upload(client, headers, content_type="text/plain", size_bytes=2001)
    assert over.status_code == 409
    listing = (await client.get(FILES, headers=headers)).json()["data"]
    assert [f["status"] for f in listing] == ["pending", "pending"]


async def test_a_presigned_office_document_is_checked_by_its_zip_directory(client: Client) -> None:
    headers = await signed_in(client)
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    for data, expected in ((DOCX, 200), (PLAIN_ZIP, 400)):
        started = await start_upload(client, headers, content_type=docx_type, size_bytes=len(data))
        ticket = started.json()["data"]
        await put_bytes(client, ticket, data)
        done = await client.post(f"{FILES}/{ticket['file']['id']}/complete", headers=headers)
        assert done.status_code == expected, done.text
    listing = (await client.get(FILES, headers=headers)).json()["data"]
    assert [(f["status"], f["size_bytes"]) for f in listing] == [("ready", len(DOCX))]


async def test_the_openapi_document_shows_the_file_routes(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert set(paths[FILES]) == {"get", "post"}
    assert set(paths[f"{FILES}/{{file_id}}"]) == {"get", "delete"}
    assert "post" in paths[f"{FILES}/uploads"]
    assert "post" in paths[f"{FILES}/{{file_id}}/complete"]
