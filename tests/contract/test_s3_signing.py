"""The SigV4 query signer behind S3 download links with a filename (obstore's signer takes
no extra query parameters). moto does not check signatures, so it is checked here against
AWS's published example and against the URLs obstore itself signs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import obstore

from tessera.shared.adapters.s3_storage import S3Config, make_store, presign_get, sigv4_query_url


def test_the_signer_reproduces_the_aws_documentation_example() -> None:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    url = sigv4_query_url(
        method="GET", scheme="https", host="examplebucket.s3.amazonaws.com", path="/test.txt",
        region="us-east-1", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        expires_in=timedelta(seconds=86400), now=datetime(2013, 5, 24, tzinfo=UTC), query={},
    )  # fmt: skip
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"]
    assert signature == ["aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"]


async def test_the_signer_agrees_with_obstore_on_the_same_request() -> None:
    config = S3Config(
        endpoint_url="http://127.0.0.1:9000", bucket="tessera", region="eu-west-3",
        access_key_id="AKIDEXAMPLE", secret_access_key="secret/with+chars",
    )  # fmt: skip
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
        endpoint_url="http://127.0.0.1:9000", bucket="b", access_key_id="a",
        secret_access_key="s",
    )  # fmt: skip
    now = datetime(2026, 1, 1, tzinfo=UTC)
    plain = presign_get(config, "k", expires_in=timedelta(minutes=1), now=now)
    named = presign_get(
        config, "k", expires_in=timedelta(minutes=1), now=now,
        query={"response-content-disposition": "attachment; filename*=UTF-8''a.pdf"},
    )  # fmt: skip
    query = parse_qs(urlsplit(named).query)
    assert query["response-content-disposition"] == ["attachment; filename*=UTF-8''a.pdf"]
    assert query["X-Amz-Expires"] == ["60"]
    assert _signature(named) != _signature(plain)


def _signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
