"""S3 links are signed by obstore, with whichever credentials the store has. moto checks no
signature, so what S3 would do with a link is checked by a verifier written apart from
obstore (`tests/fakes/s3_signatures.py`), itself checked here against AWS's published
example and the URLs botocore signs. obstore signs only `host`: a link binds method, key
and expiry, and a download's `Content-Disposition` comes from the object itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import obstore
from botocore.config import Config

from tessera.shared.adapters.s3_storage import S3Config, S3FileStorage, make_store
from tests.fakes import s3_server as fake_s3
from tests.fakes.s3_server import FakeS3Server
from tests.fakes.s3_signatures import s3_accepts

if TYPE_CHECKING:
    from obstore.store import S3Credential

AWS_EXAMPLE_URL = (  # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONFIG = S3Config(
    endpoint_url="http://127.0.0.1:9000",
    bucket="tessera",
    region="eu-west-3",
    access_key_id="AKIDEXAMPLE",
    secret_access_key="secret/with+chars",
)
PNG_75 = {"Content-Type": "image/png", "Content-Length": "75"}


def _botocore_put(key: str, *, content_type: str, size_bytes: int) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=CONFIG.base_url,
        region_name=CONFIG.region,
        aws_access_key_id=CONFIG.access_key_id,
        aws_secret_access_key=CONFIG.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url: str = client.generate_presigned_url(
        "put_object",
        ExpiresIn=300,
        Params={
            "Bucket": CONFIG.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size_bytes,
        },
    )
    return url


def test_the_verifier_accepts_what_aws_and_botocore_sign_and_nothing_else() -> None:
    assert s3_accepts(
        AWS_EXAMPLE_URL, method="GET", headers={}, secret_access_key=AWS_EXAMPLE_SECRET
    )
    for tampered in (
        AWS_EXAMPLE_URL.replace("X-Amz-Expires=86400", "X-Amz-Expires=86401"),
        AWS_EXAMPLE_URL.replace("/test.txt", "/test2.txt"),
    ):
        assert not s3_accepts(
            tampered, method="GET", headers={}, secret_access_key=AWS_EXAMPLE_SECRET
        )
    assert not s3_accepts(
        AWS_EXAMPLE_URL, method="PUT", headers={}, secret_access_key=AWS_EXAMPLE_SECRET
    )

    botocore = _botocore_put("uploads/incoming/7b0c.png", content_type="image/png", size_bytes=75)
    secret = CONFIG.secret_access_key
    assert secret
    assert s3_accepts(botocore, method="PUT", headers=PNG_75, secret_access_key=secret)
    assert not s3_accepts(botocore, method="PUT", headers=PNG_75, secret_access_key="other")
    assert not s3_accepts(
        botocore, method="PUT", headers=PNG_75 | {"Content-Length": "76"}, secret_access_key=secret
    )


async def test_the_verifier_accepts_obstores_own_links() -> None:
    secret = CONFIG.secret_access_key
    assert secret
    for method in ("GET", "PUT"):
        url = await obstore.sign_async(
            make_store(CONFIG), method, "uploads/Résumé ✓.txt", timedelta(minutes=5)
        )
        assert s3_accepts(url, method=method, headers={}, secret_access_key=secret)
        assert not s3_accepts(url, method=method, headers={}, secret_access_key="other")


async def test_an_upload_link_binds_method_key_and_expiry_but_not_type_or_size() -> None:
    storage = S3FileStorage(CONFIG)
    upload = await storage.presign_upload(
        "uploads/incoming/7b0c.png",
        content_type="image/png",
        size_bytes=75,
        expires_in=timedelta(minutes=5),
    )
    download = await storage.download_url(
        "uploads/incoming/7b0c.png", expires_in=timedelta(minutes=5)
    )
    secret = CONFIG.secret_access_key
    assert secret
    query = parse_qs(urlsplit(upload.url).query)
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Expires"] == ["300"]
    assert dict(upload.headers) == PNG_75
    # What the completion must check itself: S3 takes another type and size.
    for sent in (PNG_75, {"Content-Type": "text/html", "Content-Length": "3000000"}):
        assert s3_accepts(upload.url, method="PUT", headers=sent, secret_access_key=secret)
    assert not s3_accepts(upload.url, method="GET", headers={}, secret_access_key=secret)
    assert not s3_accepts(
        upload.url.replace("7b0c.png", "7b0d.png"),
        method="PUT",
        headers=PNG_75,
        secret_access_key=secret,
    )
    assert s3_accepts(download, method="GET", headers={}, secret_access_key=secret)
    assert not s3_accepts(download, method="PUT", headers={}, secret_access_key=secret)


async def test_a_store_with_a_credential_provider_signs_downloads_that_are_attachments(
    s3_server: FakeS3Server,
) -> None:
    """Credentials from a provider (as from an instance profile: a key, a secret and a
    session token that expire), not static keys: the links are signed with them, carry
    the token, and still answer with the stored `Content-Disposition`."""
    fetched: list[datetime] = []

    def provider() -> S3Credential:
        fetched.append(datetime.now(UTC))
        return {
            "access_key_id": "ASIAPROVIDED",
            "secret_access_key": "provided/secret+1",
            "token": "session-token",
            "expires_at": datetime.now(UTC) + timedelta(hours=1),
        }

    storage = S3FileStorage(
        S3Config(
            endpoint_url=s3_server.endpoint_url,
            bucket=s3_server.create_bucket(),
            region=fake_s3.REGION,
            credential_provider=provider,
        )
    )
    await storage.put(
        "uploads/documents/9.pdf",
        b"%PDF-1.7",
        content_type="application/pdf",
        download_name='Résumé "final".pdf',
    )
    url = await storage.download_url("uploads/documents/9.pdf", expires_in=timedelta(minutes=5))

    assert fetched
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Credential"][0].startswith("ASIAPROVIDED/")
    assert query["X-Amz-Security-Token"] == ["session-token"]
    assert s3_accepts(url, method="GET", headers={}, secret_access_key="provided/secret+1")
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf"
    )
