"""Files (SPEC §3.6): which uploads are accepted, where they are kept, who owns them.

The type is decided by the bytes alone (`sniff`, `office_type`, `TextCheck`): the client's
file name and declared content type are never read for it. The key is made by the server,
`uploads/documents/{id}.{ext}` or `uploads/images/{id}.{ext}`, with the extension of the
detected type; the client's name is kept, sanitised, as display metadata only. A presigned
upload writes to a key of its own under `uploads/incoming/`, never a ready file's key.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from tessera.shared.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    UnsupportedMediaType,
)

DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024
SNIFF_BYTES = 8 * 1024  # what `sniff` needs to see of the start of a file
MAX_NAME_CHARS = 255
FALLBACK_NAME = "file"


class FileKind(StrEnum):
    DOCUMENT = "document"
    IMAGE = "image"


class FileStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"


class FileType(Enum):
    """An accepted type: (content type, extension, kind)."""

    PDF = ("application/pdf", "pdf", FileKind.DOCUMENT)
    TEXT = ("text/plain", "txt", FileKind.DOCUMENT)
    DOCX = (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        FileKind.DOCUMENT,
    )
    XLSX = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        FileKind.DOCUMENT,
    )
    PPTX = (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
        FileKind.DOCUMENT,
    )
    # Legacy .doc/.xls/.ppt share one container (OLE2/CFB); telling them apart would mean
    # parsing its directory, so they are stored as one type.
    OLE = ("application/vnd.ms-office", "ole", FileKind.DOCUMENT)
    PNG = ("image/png", "png", FileKind.IMAGE)
    JPEG = ("image/jpeg", "jpg", FileKind.IMAGE)
    WEBP = ("image/webp", "webp", FileKind.IMAGE)
    GIF = ("image/gif", "gif", FileKind.IMAGE)

    @property
    def content_type(self) -> str:
        return self.value[0]

    @property
    def extension(self) -> str:
        return self.value[1]

    @property
    def kind(self) -> FileKind:
        return self.value[2]

    @classmethod
    def by_content_type(cls, content_type: str) -> FileType | None:
        return next((found for found in cls if found.content_type == content_type), None)


class Sniffed(Enum):
    """What the first bytes say before any further check: a type, or a zip whose directory
    decides (`office_type`)."""

    ZIP = "zip"


ACCEPTED_CONTENT_TYPES = tuple(accepted.content_type for accepted in FileType)


class UnsupportedFileType(UnsupportedMediaType):
    """A file of a type Tessera does not store, whether its bytes say so (`POST /files`) or
    its declared `content_type` (`POST /files/uploads`): one answer, 415, naming the field
    and listing the accepted types in `details.accepted`."""

    default_message = (
        "The file type is not accepted: send a PDF, plain text, Office document or a PNG, "
        "JPEG, WebP or GIF image."
    )

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message, field=field, details={"accepted": list(ACCEPTED_CONTENT_TYPES)})


class EmptyFile(InvalidInput):
    default_message = "The file is empty."


class FileTooLarge(InvalidInput):
    """Answered as 413 by the HTTP layer."""

    default_message = "The file is too large."


class QuotaExceeded(Conflict):
    default_message = "The tenant's storage quota would be exceeded."


class FileNotFound(NotFound):
    """Unknown, or in a tenant the caller may not see: one 404."""

    default_message = "File not found."


class UploadNotReceived(Conflict):
    """`complete` before the object arrived: the reservation stays, try again after the
    upload (the file's state, not the request, is what is wrong)."""

    default_message = "Nothing was uploaded for this file yet."


class UploadNotAccepted(InvalidInput):
    """A presigned upload whose object is missing, too large, or not what was declared."""

    default_message = "The uploaded object is not the file that was declared."


class NotFileOwner(Forbidden):
    default_message = "Only the uploader or a tenant admin may delete this file."


_ZIP = b"PK\x03\x04"
_SIGNATURES: tuple[tuple[bytes, FileType], ...] = (
    (b"%PDF-", FileType.PDF),
    (b"\x89PNG\r\n\x1a\n", FileType.PNG),
    (b"\xff\xd8\xff", FileType.JPEG),
    (b"GIF87a", FileType.GIF),
    (b"GIF89a", FileType.GIF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", FileType.OLE),
)


def sniff(head: bytes) -> FileType | Sniffed | None:
    """The type the first bytes announce; `Sniffed.ZIP` for a zip (an Office document only if
    its directory says so); `TEXT` for UTF-8 without NUL not opening with `<` (so HTML, SVG
    and XML are refused), to be confirmed over the whole file with `TextCheck`; else None."""
    found = next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)
    if found is None and len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = FileType.WEBP
    if found is not None:
        return found
    if head.startswith(_ZIP):
        return Sniffed.ZIP
    check = TextCheck()
    return FileType.TEXT if check.feed(head) and check.looks_like_text else None


_OFFICE_PARTS = (("word/", FileType.DOCX), ("xl/", FileType.XLSX), ("ppt/", FileType.PPTX))


def office_type(names: Iterable[str]) -> FileType | None:
    """A zip is an Office Open XML document when its directory holds `[Content_Types].xml`
    and the main part's folder (`word/`, `xl/`, `ppt/`); any other zip is refused."""
    listed = list(names)
    if "[Content_Types].xml" not in listed:
        return None
    for folder, found in _OFFICE_PARTS:
        if any(name.startswith(folder) for name in listed):
            return found
    return None


class TextCheck:
    """Plain text over a stream: valid UTF-8 (a character may straddle chunks), no NUL, and
    the first non-blank character (after a BOM) is not `<`."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._seen_text = False
        self._markup = False

    @property
    def looks_like_text(self) -> bool:
        return not self._markup

    def feed(self, chunk: bytes, *, final: bool = False) -> bool:
        """False as soon as the bytes cannot be plain text."""
        if b"\x00" in chunk:
            return False
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            return False
        if not self._seen_text:
            stripped = text.lstrip("\ufeff \t\r\n\f\v")
            if stripped:
                self._seen_text = True
                self._markup = stripped.startswith("<")
        return not self._markup


_PATH_PARTS = re.compile(r"[/\\]")


def display_name(client_name: str | None) -> str:
    """The client's file name, for display only: the last path segment (`../../etc/passwd`
    → `passwd`), NFC, without control or format characters (bidi overrides included),
    trimmed, at most 255 characters keeping a short extension; `file` when nothing is left."""
    name = _PATH_PARTS.split(client_name or "")[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.strip().strip(".").strip()
    if not name:
        return FALLBACK_NAME
    if len(name) > MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        if dot and stem and 0 < len(suffix) <= 16:
            name = stem[: MAX_NAME_CHARS - len(suffix) - 1].rstrip() + "." + suffix
        else:
            name = name[:MAX_NAME_CHARS].rstrip()
    return name


INCOMING_PREFIX = "uploads/incoming/"


def storage_key(file_id: uuid.UUID, file_type: FileType, *, version: str | None = None) -> str:
    """Where a ready file's bytes are kept: `uploads/images/{id}.png`. A completed presigned
    upload's copy carries its completion's `version` (`uploads/images/{id}-{version}.png`),
    so two completions of one file never write the same key."""
    folder = "images" if file_type.kind is FileKind.IMAGE else "documents"
    name = str(file_id) if version is None else f"{file_id}-{version}"
    return f"uploads/{folder}/{name}.{file_type.extension}"


def upload_key(file_id: uuid.UUID, file_type: FileType) -> str:
    """Where a presigned upload's link writes (`uploads/incoming/{id}.{ext}`): held by the
    `pending` row only; the completed file is a copy at a `storage_key`."""
    return f"{INCOMING_PREFIX}{file_id}.{file_type.extension}"


def check_size(size_bytes: int, *, max_bytes: int) -> None:
    if size_bytes > max_bytes:
        raise FileTooLarge(field="file", details={"max_bytes": max_bytes})


def check_quota(*, used_bytes: int, incoming_bytes: int, quota_bytes: int) -> None:
    """The tenant's files plus this one must fit in the quota (equal is fine)."""
    if used_bytes + incoming_bytes > quota_bytes:
        raise QuotaExceeded(
            field="file",
            details={
                "quota_bytes": quota_bytes,
                "used_bytes": used_bytes,
                "incoming_bytes": incoming_bytes,
            },
        )


@dataclass(slots=True)
class StoredFile:
    """One file's metadata row. `user_id` is the uploader's id, kept after the account is
    purged (no foreign key) so a clean-up can still find the files it uploaded."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    kind: FileKind
    content_type: str
    size_bytes: int
    original_name: str
    sha256: str
    storage_key: str
    status: FileStatus
    uploaded_at: datetime
    created_at: datetime
    updated_at: datetime
