"""Object keys and download names, checked the same way by every `FileStorage` adapter.

A key is a non-empty UTF-8 string of at most 1,024 bytes made of `/`-separated segments.
Refused (`InvalidKey`): a leading or trailing `/`, an empty segment (`a//b`), a `.` or `..`
segment, a backslash, and control characters (C0, DEL, C1). Spaces and any other Unicode
are fine. S3 itself would take more, but object_store (under obstore) normalises `a/b/` to
`a/b` and refuses `.`/`..`/empty segments, and a local folder cannot hold them: one rule
for every adapter keeps them interchangeable.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from tessera.shared.application.storage import InvalidKey

MAX_KEY_BYTES = 1024
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def check_key(key: str) -> str:
    """`key` itself when valid, else `InvalidKey` saying why (the key is not echoed)."""
    if not key:
        raise InvalidKey("The object key is empty.", field="key")
    _check_text(key)
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKey("An object key may not start or end with '/'.", field="key")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKey("An object key may not hold empty, '.' or '..' segments.", field="key")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or text that could begin a valid key (it may end in `/`)."""
    if not prefix:
        return prefix
    _check_text(prefix)
    if prefix.startswith("/"):
        raise InvalidKey("A key prefix may not start with '/'.", field="prefix")
    *inner, last = prefix.split("/")  # the last segment may be a partial one
    if any(segment in ("", ".", "..") for segment in inner) or last == "..":
        raise InvalidKey("A key prefix may not hold empty, '.' or '..' segments.", field="prefix")
    return prefix


def _check_text(text: str) -> None:
    if _FORBIDDEN.search(text):
        raise InvalidKey(
            "An object key may not hold control characters or backslashes.", field="key"
        )
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"An object key may be at most {MAX_KEY_BYTES} bytes.", field="key")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey("An object key must be valid UTF-8 text.", field="key") from None


ATTACHMENT_PREFIX = "attachment; filename*=UTF-8''"


def attachment_disposition(filename: str) -> str:
    """`attachment; filename*=UTF-8''…` (RFC 6266/8187): every byte but unreserved ones is
    percent-encoded, so quotes, `;` and line breaks in `filename` cannot escape the header."""
    return ATTACHMENT_PREFIX + quote(filename, safe="", encoding="utf-8")
