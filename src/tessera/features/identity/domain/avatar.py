"""Avatar rules (SPEC §3.4): which images are accepted, their limits, where they are kept.

The type is decided by the first bytes of the upload alone: the file name and the declared
content type are never read. Objects live at `avatars/{user_id}/avatar-v{n}.{ext}`; the
user row keeps only `avatar_url`, a stable API address (`…/users/{user_id}/avatar?v={n}.{ext}`)
from which the current object's key, and so the next version, can be recovered.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import Enum

from tessera.shared.domain.errors import InvalidInput, NotFound

MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_SIDE = 4096  # pixels, each of width and height
MAX_AVATAR_PIXELS = MAX_AVATAR_SIDE * MAX_AVATAR_SIDE


class AvatarFormat(Enum):
    """An accepted image type: (Pillow's format name, content type, file extension)."""

    JPEG = ("JPEG", "image/jpeg", "jpg")
    PNG = ("PNG", "image/png", "png")
    WEBP = ("WEBP", "image/webp", "webp")

    @property
    def pillow_name(self) -> str:
        return self.value[0]

    @property
    def content_type(self) -> str:
        return self.value[1]

    @property
    def extension(self) -> str:
        return self.value[2]

    @classmethod
    def by_extension(cls, extension: str) -> AvatarFormat | None:
        return next((f for f in cls if f.extension == extension), None)


class InvalidImage(InvalidInput):
    default_message = "The avatar must be a JPEG, PNG or WebP image."


class AvatarTooLarge(InvalidInput):
    default_message = "The avatar must be at most 5 MiB."


class AvatarTooManyPixels(InvalidImage):
    default_message = f"The avatar must be at most {MAX_AVATAR_SIDE}x{MAX_AVATAR_SIDE} pixels."


class AvatarNotFound(NotFound):
    """No uploaded avatar, or a user the caller may not see (another tenant): one 404."""

    default_message = "Avatar not found."


def sniff_format(data: bytes) -> AvatarFormat | None:
    """The format the magic bytes announce; None for anything else (HTML, SVG, PDF, ...)."""
    if data.startswith(b"\xff\xd8\xff"):
        return AvatarFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return AvatarFormat.PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return AvatarFormat.WEBP
    return None


def check_upload(data: bytes) -> AvatarFormat:
    """The cheap checks, before any decoding: size, then magic bytes."""
    if len(data) > MAX_AVATAR_BYTES:
        raise AvatarTooLarge(field="file", details={"max_bytes": MAX_AVATAR_BYTES})
    found = sniff_format(data)
    if found is None:
        raise InvalidImage(field="file")
    return found


def check_dimensions(width: int, height: int) -> None:
    """Read from the image header, before the pixels are decoded."""
    if width <= 0 or height <= 0:
        raise InvalidImage("The avatar has no pixels.", field="file")
    if width > MAX_AVATAR_SIDE or height > MAX_AVATAR_SIDE:
        raise AvatarTooManyPixels(
            field="file", details={"max_width": MAX_AVATAR_SIDE, "max_height": MAX_AVATAR_SIDE}
        )


def avatar_folder(user_id: uuid.UUID) -> str:
    """The prefix of every version of the user's avatar, with its trailing slash, so that
    a listing never reaches a neighbour whose id merely starts with this one."""
    return f"avatars/{user_id}/"


@dataclass(frozen=True, slots=True)
class AvatarObject:
    """One stored version of a user's avatar."""

    user_id: uuid.UUID
    version: int
    format: AvatarFormat

    @property
    def key(self) -> str:
        return f"{avatar_folder(self.user_id)}avatar-v{self.version}.{self.format.extension}"

    def url(self, public_base_url: str) -> str:
        """The stable API address kept in `avatar_url`; the query names the version so a
        new upload is a new URL for caches, and lets the key be recovered."""
        base = public_base_url.rstrip("/")
        return f"{base}/api/v1/users/{self.user_id}/avatar?v={self.version}.{self.format.extension}"

    def next(self, format: AvatarFormat) -> AvatarObject:
        return AvatarObject(self.user_id, self.version + 1, format)

    @classmethod
    def first(cls, user_id: uuid.UUID, format: AvatarFormat) -> AvatarObject:
        return cls(user_id, 1, format)


_OURS = re.compile(r"/api/v1/users/([0-9a-f-]{36})/avatar\?v=([1-9][0-9]{0,8})\.(jpg|png|webp)")


def current_avatar(user_id: uuid.UUID, avatar_url: str | None) -> AvatarObject | None:
    """The uploaded avatar `avatar_url` points at, if it is one of ours for this user (an
    http(s) URL ending in this user's avatar path, whatever the host, so a changed
    `PUBLIC_BASE_URL` still finds it); None for no avatar or an external URL. A URL naming
    another user is never taken for ours, so a key is always under this user's folder."""
    if avatar_url is None or not avatar_url.startswith(("https://", "http://")):
        return None
    found = _OURS.search(avatar_url)
    if found is None or found.end() != len(avatar_url) or found.group(1) != str(user_id):
        return None
    format = AvatarFormat.by_extension(found.group(3))
    assert format is not None
    return AvatarObject(user_id, int(found.group(2)), format)


def next_avatar(user_id: uuid.UUID, avatar_url: str | None, format: AvatarFormat) -> AvatarObject:
    """Version n + 1 after our own version n; version 1 after none or an external URL."""
    current = current_avatar(user_id, avatar_url)
    return AvatarObject.first(user_id, format) if current is None else current.next(format)
