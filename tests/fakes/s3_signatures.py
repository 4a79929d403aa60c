"""What S3 checks of a presigned URL and moto does not: its SigV4 signature, recomputed from
the request as it is sent (method, path, query, and the headers the URL says it signed) as
S3 does it (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).

Written apart from obstore, which signs Tessera's links, and checked in
`tests/contract/test_s3_signing.py` against AWS's published example and the URLs botocore
signs. Expiry is not checked (no test waits for a clock)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit


def s3_accepts(
    url: str, *, method: str, headers: Mapping[str, str], secret_access_key: str
) -> bool:
    """Whether S3 would take `method url` sent with `headers` (the `Host` is the URL's
    unless given): every signed header present with its signed value, nothing signed
    changed."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature", "")
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-SignedHeaders" not in query:
        return False
    sent = {name.lower(): value for name, value in headers.items()}
    sent.setdefault("host", parts.netloc)
    signed_names = query["X-Amz-SignedHeaders"].split(";")
    if "host" not in signed_names or any(name not in sent for name in signed_names):
        return False
    canonical_headers = "".join(f"{name}:{' '.join(sent[name].split())}\n" for name in signed_names)
    canonical_query = "&".join(
        f"{_uri(name)}={_uri(value)}" for name, value in sorted(query.items())
    )
    canonical_request = "\n".join(
        [
            method,
            parts.path,
            canonical_query,
            canonical_headers,
            query["X-Amz-SignedHeaders"],
            "UNSIGNED-PAYLOAD",
        ]
    )
    _access_key, day, region, service, terminal = query["X-Amz-Credential"].split("/")
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            f"{day}/{region}/{service}/{terminal}",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_access_key}".encode()
    for scope_part in (day, region, service, terminal):
        key = hmac.new(key, scope_part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _uri(text: str) -> str:
    return quote(text, safe="-_.~")
