"""`ImageProcessor` with Pillow: avatars checked, decoded and encoded again, metadata dropped.

Order of the checks, cheapest and safest first: size and magic bytes (`check_upload`, no
Pillow), then `Image.open` restricted to the sniffed format, which reads only the header;
the width and height from it are checked before `load()` decodes any pixel, so a 20000 x 20000
PNG or a decompression bomb costs a header parse. Pillow's own bomb guard (global
`Image.MAX_IMAGE_PIXELS`, left at its default for other users of Pillow in the process) may
fire first, as an error or as a warning turned into an error by the caller's filters: both
are the same refusal. Decoding and encoding run in a worker thread, a bounded number at a
time (a 4096 x 4096 RGBA image is 64 MiB decoded).
"""

from __future__ import annotations

import asyncio
import io

from PIL import Image, ImageOps, UnidentifiedImageError

from tessera.features.identity.application.ports import ProcessedImage
from tessera.features.identity.domain.avatar import (
    AvatarFormat,
    AvatarTooManyPixels,
    InvalidImage,
    check_dimensions,
    check_upload,
)
from tessera.shared.application.event_loop import OneLoop

JPEG_QUALITY = 88
WEBP_QUALITY = 88
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_BROKEN = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)


class PillowImageProcessor:
    def __init__(self, *, max_concurrency: int = 2) -> None:
        self._slots = asyncio.Semaphore(max_concurrency)
        self._loop = OneLoop("PillowImageProcessor")

    async def normalise(self, data: bytes) -> ProcessedImage:
        format = check_upload(data)
        self._loop.check()
        async with self._slots:
            return await asyncio.to_thread(normalise_sync, data, format)


def normalise_sync(data: bytes, format: AvatarFormat) -> ProcessedImage:
    """The blocking work; `format` is what the magic bytes said."""
    try:
        with Image.open(io.BytesIO(data), formats=[format.pillow_name]) as image:
            check_dimensions(*image.size)  # from the header: nothing decoded yet
            if image.format != format.pillow_name:
                raise InvalidImage(field="file")
            image.load()
            clean = _pixels_only(ImageOps.exif_transpose(image), format)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AvatarTooManyPixels(field="file") from exc
    except _BROKEN as exc:
        raise InvalidImage("The avatar is not a readable image.", field="file") from exc
    out = io.BytesIO()
    if format is AvatarFormat.JPEG:
        clean.save(out, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
    elif format is AvatarFormat.PNG:
        clean.save(out, "PNG")
    else:
        clean.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return ProcessedImage(out.getvalue(), format, clean.width, clean.height)


def _pixels_only(image: Image.Image, format: AvatarFormat) -> Image.Image:
    """A new image with the pixels alone (no `info`: EXIF, ICC, XMP, text chunks), in a mode
    the output format takes: RGB, or RGBA where there is transparency (PNG, WebP), or L for
    grey images (JPEG, PNG)."""
    alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if format is not AvatarFormat.JPEG and alpha:
        mode = "RGBA"
    elif format is not AvatarFormat.WEBP and image.mode in ("1", "L"):
        mode = "L"
    else:
        mode = "RGB"
    converted = image if image.mode == mode else image.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())
