"""`PillowImageProcessor`: magic bytes decide, limits hold before decoding, metadata goes."""

from __future__ import annotations

import functools
import io

import pytest
from PIL import Image

from tessera.features.identity.adapters.pillow_images import PillowImageProcessor
from tessera.features.identity.domain.avatar import (
    MAX_AVATAR_BYTES,
    AvatarFormat,
    AvatarTooLarge,
    AvatarTooManyPixels,
    InvalidImage,
)
from tests.unit.identity.images import (
    GPS_IFD,
    HTML,
    SVG,
    image_bytes,
    jpeg_with_gps,
    png_header_only,
)

bomb = functools.cache(png_header_only)


@pytest.fixture
def processor() -> PillowImageProcessor:
    return PillowImageProcessor()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any pixel decoding fails the test (and is recorded)."""
    calls: list[str] = []

    def refuse(self: Image.Image) -> None:
        calls.append("load")
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", refuse)
    return calls


async def test_exif_and_gps_are_stripped_from_a_jpeg(processor: PillowImageProcessor) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the test is real
    result = await processor.normalise(original)
    assert result.format is AvatarFormat.JPEG
    assert result.content_type == "image/jpeg"
    assert (result.width, result.height) == (40, 30)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "JPEG"
    assert "exif" not in out.info
    assert not out.getexif()
    assert b"Spy Camera" not in result.data
    assert out.info.get("progressive") or out.info.get("progression")


async def test_exif_orientation_is_applied_before_it_is_dropped(
    processor: PillowImageProcessor,
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    result = await processor.normalise(image_bytes("JPEG", (40, 30), exif=exif.tobytes()))
    assert (result.width, result.height) == (30, 40)


@pytest.mark.parametrize(
    ("format", "mode", "expected_mode"),
    [
        ("PNG", "RGB", "RGB"),
        ("PNG", "RGBA", "RGBA"),
        ("PNG", "L", "L"),
        ("WEBP", "RGB", "RGB"),
        ("WEBP", "RGBA", "RGBA"),
        ("JPEG", "L", "L"),
    ],
)
async def test_png_and_webp_round_trip_in_their_own_format(
    processor: PillowImageProcessor, format: str, mode: str, expected_mode: str
) -> None:
    original = image_bytes(format, (33, 21), mode)
    result = await processor.normalise(original)
    assert result.format.pillow_name == format
    out = Image.open(io.BytesIO(result.data))
    assert (out.format, out.size, out.mode) == (format, (33, 21), expected_mode)


async def test_png_text_and_icc_metadata_are_dropped(processor: PillowImageProcessor) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "secret location")
    original = image_bytes("PNG", pnginfo=info, icc_profile=b"fake-icc-profile")
    result = await processor.normalise(original)
    out = Image.open(io.BytesIO(result.data))
    assert "Comment" not in out.info
    assert "icc_profile" not in out.info
    assert b"secret location" not in result.data


@pytest.mark.parametrize("body", [HTML, SVG, b"%PDF-1.7\n%\xe2\xe3", b"", b"GIF89a" + b"\0" * 20])
async def test_anything_but_jpeg_png_webp_is_refused(
    processor: PillowImageProcessor, body: bytes, no_decoding: list[str]
) -> None:
    with pytest.raises(InvalidImage):
        await processor.normalise(body)
    assert no_decoding == []


async def test_a_png_body_is_a_png_whatever_it_was_called(processor: PillowImageProcessor) -> None:
    """The processor never sees a name: the magic bytes decide (a PNG sent as `x.pdf` is
    accepted as a PNG; see the e2e test)."""
    assert (await processor.normalise(image_bytes("PNG"))).format is AvatarFormat.PNG


async def test_a_jpeg_magic_in_front_of_png_data_is_refused(
    processor: PillowImageProcessor,
) -> None:
    with pytest.raises(InvalidImage):
        await processor.normalise(b"\xff\xd8\xff" + image_bytes("PNG"))


async def test_a_truncated_png_is_refused(processor: PillowImageProcessor) -> None:
    # noise, so the compressed data is long enough to cut in the middle
    noisy = Image.frombytes("RGB", (300, 300), bytes(range(256)) * (300 * 300 * 3 // 256 + 1))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    whole = out.getvalue()
    with pytest.raises(InvalidImage):
        await processor.normalise(whole[: len(whole) // 2])


async def test_the_no_decoding_guard_does_see_decoding(
    processor: PillowImageProcessor, no_decoding: list[str]
) -> None:
    with pytest.raises(AssertionError):
        await processor.normalise(image_bytes("PNG"))
    assert no_decoding == ["load"]


async def test_a_20000_square_png_is_refused_before_decoding(
    processor: PillowImageProcessor, no_decoding: list[str]
) -> None:
    data = bomb(20000, 20000)
    assert len(data) < 100_000  # tiny on the wire, 400 million pixels decoded
    with pytest.raises(AvatarTooManyPixels):
        await processor.normalise(data)
    assert no_decoding == []


@pytest.mark.parametrize("size", [(5000, 5000), (4097, 10), (10, 4097)])
async def test_over_4096_pixels_a_side_is_refused_from_the_header(
    processor: PillowImageProcessor, no_decoding: list[str], size: tuple[int, int]
) -> None:
    """Below Pillow's own bomb threshold: our check refuses it, still without decoding."""
    with pytest.raises(AvatarTooManyPixels):
        await processor.normalise(bomb(*size))
    assert no_decoding == []


async def test_4096_square_is_accepted(processor: PillowImageProcessor) -> None:
    result = await processor.normalise(bomb(4096, 4096))
    assert (result.width, result.height) == (4096, 4096)


async def test_over_5_mib_is_refused_before_anything(
    processor: PillowImageProcessor, no_decoding: list[str]
) -> None:
    with pytest.raises(AvatarTooLarge):
        await processor.normalise(b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_AVATAR_BYTES)
    assert no_decoding == []
