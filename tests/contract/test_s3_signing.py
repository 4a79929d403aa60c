"""The SigV4 query signer behind S3 download links with a filename and upload links that
bind their type and size (obstore's signer takes no extra query parameters and signs only
`host`). moto does not check signatures, so the signer is checked here against AWS's
published example and the URLs obstore and botocore sign, and upload links against a
verifier that checks them as S3 does (`tests/fakes/s3_signatures.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import obstore
import pytest
from botocore.config import Config

from tessera.shared.adapters.s3_storage import (
    S3Config,
    S3FileStorage,
    make_store,
    presign_get,
    presign_put,
    sigv4_query_url,
)
from tests.fakes.s3_signatures import s3_accepts

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


def test_the_signer_reproduces_the_aws_documentation_example() -> None:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    url = sigv4_query_url(
        method="GET",
        scheme="https",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        region="us-east-1",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        expires_in=timedelta(seconds=86400),
        now=datetime(2013, 5, 24, tzinfo=UTC),
        query={},
    )
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"]
    assert signature == ["aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"]


async def test_the_signer_agrees_with_obstore_on_the_same_request() -> None:
    config = S3Config(
        endpoint_url="http://127.0.0.1:9000",
        bucket="tessera",
        region="eu-west-3",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="secret/with+chars",
    )
    key = "uploads/Résumé final 2026 ✓.txt"
    theirs = await obstore.sign_async(make_store(config), "GET", key, timedelta(minutes=15))
    signed_at = datetime.strptime(
        parse_qs(urlsplit(theirs).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"
    ).replace(tzinfo=UTC)
    ours = presign_get(config, key, expires_in=timedelta(minutes=15), now=signed_at)
    assert _signature(ours) == _signature(theirs)
    assert urlsplit(ours).path == urlsplit(theirs).path


def test_a_filename_is_a_signed_response_content_disposition() -> None:
    config = S3Config(
        endpoint_url="http://127.0.0.1:9000",
        bucket="b",
        access_key_id="a",
        secret_access_key="s",
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    plain = presign_get(config, "k", expires_in=timedelta(minutes=1), now=now)
    named = presign_get(
        config,
        "k",
        expires_in=timedelta(minutes=1),
        now=now,
        query={"response-content-disposition": "attachment; filename*=UTF-8''a.pdf"},
    )
    query = parse_qs(urlsplit(named).query)
    assert query["response-content-disposition"] == ["attachment; filename*=UTF-8''a.pdf"]
    assert query["X-Amz-Expires"] == ["60"]
    assert _signature(named) != _signature(plain)


def _signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]


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


def test_the_verifier_accepts_what_aws_obstore_and_botocore_sign_and_nothing_else() -> None:
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


def test_the_put_signer_agrees_with_botocore_on_the_same_request() -> None:
    key = "uploads/incoming/7b0c.png"
    theirs = _botocore_put(key, content_type="image/png", size_bytes=75)
    query = parse_qs(urlsplit(theirs).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = presign_put(CONFIG, key, expires_in=timedelta(minutes=5), now=signed_at, headers=PNG_75)
    assert parse_qs(urlsplit(ours).query)["X-Amz-SignedHeaders"] == query["X-Amz-SignedHeaders"]
    assert _signature(ours) == _signature(theirs)
    assert urlsplit(ours).path == urlsplit(theirs).path


@pytest.mark.parametrize(
    "sent",
    [
        PNG_75 | {"Content-Type": "text/html"},
        PNG_75 | {"Content-Length": "76"},
        PNG_75 | {"Content-Length": "3000000"},
        {"Content-Type": "image/png"},  # no Content-Length
        {"Content-Length": "75"},  # no Content-Type
    ],
)
async def test_an_upload_link_binds_its_type_and_exact_size(sent: dict[str, str]) -> None:
    upload = await S3FileStorage(CONFIG).presign_upload(
        "uploads/incoming/7b0c.png",
        content_type="image/png",
        size_bytes=75,
        expires_in=timedelta(minutes=5),
    )
    assert dict(upload.headers) == PNG_75
    query = parse_qs(urlsplit(upload.url).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    secret = CONFIG.secret_access_key
    assert secret
    assert s3_accepts(upload.url, method="PUT", headers=upload.headers, secret_access_key=secret)
    assert not s3_accepts(upload.url, method="PUT", headers=sent, secret_access_key=secret)
