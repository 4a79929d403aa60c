"""Avatars (SPEC §3.4) through the real app, embedded mode (SQLite, local storage): upload,
versions, refusals, removal, and the `avatar_url` route with tenant isolation."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tessera.shared.application.storage import ObjectNotFound
from tests.e2e.harness import app_storage
from tests.e2e.identity.conftest import Client, bearer, login, register
from tests.e2e.identity.test_auth_flows import error
from tests.e2e.world import build_world
from tests.unit.identity.images import (
    GPS_IFD,
    HTML,
    SVG,
    image_bytes,
    jpeg_with_gps,
    png_header_only,
)

ME = "/api/v1/users/me"
AVATAR = "/api/v1/users/me/avatar"


async def signed_in(client: Client, email: str = "alice@example.com") -> tuple[dict[str, str], str]:
    user_id = (await register(client, email))["user_id"]
    return bearer(await login(client, email)), user_id


async def upload(
    client: Client,
    headers: dict[str, str],
    data: bytes,
    name: str = "avatar.png",
    content_type: str = "image/png",
    field: str = "file",
) -> Any:
    return await client.put(AVATAR, files={field: (name, data, content_type)}, headers=headers)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def fetch_avatar(client: Client, headers: dict[str, str], url: str) -> bytes:
    """`avatar_url` → 307 → the short-lived link → the bytes."""
    redirect = await client.get(path_of(url), headers=headers, follow_redirects=False)
    assert redirect.status_code == 307, redirect.text
    download = await client.get(path_of(redirect.headers["location"]))
    assert download.status_code == 200, download.text
    return download.content


async def test_an_upload_becomes_the_profiles_avatar(client: Client) -> None:
    headers, user_id = await signed_in(client)
    assert (await client.get(ME, headers=headers)).json()["data"]["avatar_url"] is None  # cached
    response = await upload(client, headers, jpeg_with_gps(), "me.jpg", "image/jpeg")
    assert response.status_code == 200, response.text
    profile = response.json()["data"]
    url = profile["avatar_url"]
    assert url.endswith(f"/api/v1/users/{user_id}/avatar?v=1.jpg")
    assert (await client.get(ME, headers=headers)).json()["data"]["avatar_url"] == url
    stored = await (await app_storage(client)).head(f"avatars/{user_id}/avatar-v1.jpg")
    assert stored.content_type == "image/jpeg"
    assert {"user_id", "uploaded_at", "content_type", "size_bytes"} <= set(stored.metadata)
    assert stored.metadata["user_id"] == user_id
    assert stored.metadata["size_bytes"] == str(stored.size_bytes)
    served = Image.open(io.BytesIO(await fetch_avatar(client, headers, url)))
    assert (served.format, served.size) == ("JPEG", (40, 30))
    assert not served.getexif()
    assert not served.getexif().get_ifd(GPS_IFD)


async def test_the_second_upload_is_v2_and_v1_is_gone(client: Client) -> None:
    headers, user_id = await signed_in(client)
    assert (await upload(client, headers, image_bytes("PNG"))).status_code == 200
    response = await upload(client, headers, image_bytes("WEBP"), "x.webp", "image/webp")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["avatar_url"].endswith("?v=2.webp")
    store = await app_storage(client)
    await store.head(f"avatars/{user_id}/avatar-v2.webp")
    with pytest.raises(ObjectNotFound):
        await store.head(f"avatars/{user_id}/avatar-v1.png")


@pytest.mark.parametrize(
    ("body", "name", "content_type"),
    [
        (HTML, "avatar.png", "image/png"),
        (SVG, "avatar.png", "image/png"),
        (SVG, "avatar.svg", "image/svg+xml"),
        (b"%PDF-1.7\n", "avatar.png", "image/png"),
    ],
)
async def test_html_svg_and_other_bodies_are_refused_whatever_their_name(
    client: Client, body: bytes, name: str, content_type: str
) -> None:
    headers, user_id = await signed_in(client)
    found = error(await upload(client, headers, body, name, content_type), 400, "VALIDATION_ERROR")
    assert found["field"] == "file"
    assert (await client.get(ME, headers=headers)).json()["data"]["avatar_url"] is None
    assert [o async for o in (await app_storage(client)).list(f"avatars/{user_id}/")] == []


async def test_a_png_named_pdf_is_taken_as_the_png_it_is(client: Client) -> None:
    """The magic bytes decide; the name and the declared type are never read."""
    headers, user_id = await signed_in(client)
    response = await upload(client, headers, image_bytes("PNG"), "report.pdf", "application/pdf")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["avatar_url"].endswith("?v=1.png")
    stored = await (await app_storage(client)).head(f"avatars/{user_id}/avatar-v1.png")
    assert stored.content_type == "image/png"


async def test_a_decompression_bomb_of_20000_square_is_refused_before_decoding(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, _ = await signed_in(client)
    bomb = png_header_only(20000, 20000)

    def refuse(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", refuse)
    found = error(await upload(client, headers, bomb), 400, "VALIDATION_ERROR")
    assert found["field"] == "file"


async def test_oversized_uploads_are_refused(client: Client) -> None:
    headers, _ = await signed_in(client)
    just_over = b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024 - 7)  # the file: 5 MiB + 1
    error(await upload(client, headers, just_over), 413, "PAYLOAD_TOO_LARGE")
    far_over = b"\x89PNG\r\n\x1a\n" + b"\0" * (8 * 1024 * 1024)  # the body: over the cap
    error(await upload(client, headers, far_over), 413, "PAYLOAD_TOO_LARGE")
    assert (await client.get(ME, headers=headers)).json()["data"]["avatar_url"] is None


async def test_without_a_token_it_is_401(client: Client) -> None:
    error(await upload(client, {}, image_bytes("PNG")), 401, "UNAUTHORIZED")
    error(await client.delete(AVATAR), 401, "UNAUTHORIZED")


async def test_the_image_must_be_the_one_file_field(client: Client) -> None:
    headers, _ = await signed_in(client)
    found = error(
        await upload(client, headers, image_bytes("PNG"), field="image"), 400, "VALIDATION_ERROR"
    )
    assert found["field"] == "file"
    as_text = await client.put(
        AVATAR, data={"file": "not a file"}, files={"x": ("a", b"b")}, headers=headers
    )
    error(as_text, 400, "VALIDATION_ERROR")
    as_json = await client.put(AVATAR, json={"file": "x"}, headers=headers)
    error(as_json, 400, "VALIDATION_ERROR")


async def test_deleting_removes_the_avatar_and_its_object(client: Client) -> None:
    headers, user_id = await signed_in(client)
    url = (await upload(client, headers, image_bytes("PNG"))).json()["data"]["avatar_url"]
    await client.get(ME, headers=headers)  # cached with the avatar
    response = await client.delete(AVATAR, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["avatar_url"] is None
    assert (await client.get(ME, headers=headers)).json()["data"]["avatar_url"] is None
    with pytest.raises(ObjectNotFound):
        await (await app_storage(client)).head(f"avatars/{user_id}/avatar-v1.png")
    error(await client.get(path_of(url), headers=headers), 404, "NOT_FOUND")
    assert (await client.delete(AVATAR, headers=headers)).status_code == 200  # idempotent


async def test_the_avatar_url_serves_the_same_tenant_only(client: Client) -> None:
    world = await build_world(client)
    staff = world.headers["acme_user"]
    response = await upload(client, staff, image_bytes("PNG", (12, 8)))
    url = response.json()["data"]["avatar_url"]
    user_id = response.json()["data"]["user_id"]
    for reader in ("acme_user", "acme_admin"):
        served = await fetch_avatar(client, world.headers[reader], url)
        assert Image.open(io.BytesIO(served)).size == (12, 8)
    for outsider in ("globex_user", "globex_admin"):
        error(await client.get(path_of(url), headers=world.headers[outsider]), 404, "NOT_FOUND")
    error(await client.get(path_of(url)), 401, "UNAUTHORIZED")
    # a user without an uploaded avatar: 404 too
    me = (await client.get(ME, headers=world.headers["acme_admin"])).json()["data"]
    error(
        await client.get(f"/api/v1/users/{me['user_id']}/avatar", headers=staff), 404, "NOT_FOUND"
    )
    assert user_id != me["user_id"]


async def test_upload_read_and_removal_under_postgresql_and_redis(
    production_client: Client,
) -> None:
    """Production mode: PostgreSQL under row-level security, the profile cache in Redis."""
    client = production_client
    world = await build_world(client)
    staff = world.headers["acme_user"]
    await client.get(ME, headers=staff)  # cached in Redis
    response = await upload(client, staff, image_bytes("PNG", (12, 8)))
    assert response.status_code == 200, response.text
    url = response.json()["data"]["avatar_url"]
    assert (await client.get(ME, headers=staff)).json()["data"]["avatar_url"] == url
    served = await fetch_avatar(client, world.headers["acme_admin"], url)
    assert Image.open(io.BytesIO(served)).size == (12, 8)
    error(await client.get(path_of(url), headers=world.headers["globex_user"]), 404, "NOT_FOUND")
    assert (await client.delete(AVATAR, headers=staff)).status_code == 200
    assert (await client.get(ME, headers=staff)).json()["data"]["avatar_url"] is None
