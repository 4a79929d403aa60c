"""The files feature's rules: types by magic bytes, display names, keys, size and quota."""

from __future__ import annotations

import uuid

import pytest

from tessera.features.files.domain.file import (
    FileKind,
    FileTooLarge,
    FileType,
    QuotaExceeded,
    Sniffed,
    TextCheck,
    check_quota,
    check_size,
    display_name,
    office_type,
    sniff,
    storage_key,
)
from tests.unit.files.samples import DOCX, EXE, HTML, PDF, PLAIN_ZIP, PNG, SVG, TEXT, XLSX, zip_of


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PDF, FileType.PDF),
        (PNG, FileType.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", FileType.JPEG),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", FileType.WEBP),
        (b"GIF89a\x01\x00\x01\x00", FileType.GIF),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 24, FileType.OLE),
        (TEXT, FileType.TEXT),
        (DOCX, Sniffed.ZIP),
        (HTML, None),
        (SVG, None),
        (b"<?xml version='1.0'?><note/>", None),
        (EXE, None),
        (b"\xff\xfe\x00\x00not utf-8", None),
        (b"text with a NUL\x00 inside", None),
    ],
)
def test_the_magic_bytes_alone_decide_the_type(head: bytes, expected: object) -> None:
    assert sniff(head) == expected


def test_a_png_is_a_png_whatever_its_name_and_is_kept_as_png() -> None:
    found = sniff(PNG)
    assert found is FileType.PNG
    file_id = uuid.uuid4()
    assert storage_key(file_id, found) == f"uploads/images/{file_id}.png"
    assert found.kind is FileKind.IMAGE
    assert found.content_type == "image/png"


def test_documents_go_under_documents_with_the_detected_extension() -> None:
    file_id = uuid.uuid4()
    assert storage_key(file_id, FileType.PDF) == f"uploads/documents/{file_id}.pdf"
    assert storage_key(file_id, FileType.DOCX) == f"uploads/documents/{file_id}.docx"
    assert FileType.TEXT.kind is FileKind.DOCUMENT


def test_only_a_zip_with_office_parts_is_an_office_document() -> None:
    assert office_type(["[Content_Types].xml", "word/document.xml"]) is FileType.DOCX
    assert office_type(["xl/workbook.xml", "[Content_Types].xml"]) is FileType.XLSX
    assert office_type(["[Content_Types].xml", "ppt/presentation.xml"]) is FileType.PPTX
    assert office_type(["readme.txt", "word/document.xml"]) is None  # no content types
    assert office_type(["[Content_Types].xml", "other/x.xml"]) is None
    assert office_type([]) is None
    # the samples really are zips
    for data in (DOCX, XLSX, PLAIN_ZIP, zip_of("a")):
        assert sniff(data) is Sniffed.ZIP


def test_text_is_checked_across_chunks() -> None:
    check = TextCheck()
    data = "é".encode()  # two bytes, split across chunks
    assert check.feed(b"   \n" + data[:1])
    assert check.feed(data[1:] + b" ok")
    assert check.feed(b"", final=True)
    late_markup = TextCheck()
    assert late_markup.feed(b"\n\n   ")  # nothing but blanks yet
    assert not late_markup.feed(b"<html>")
    broken = TextCheck()
    assert broken.feed(b"fine " + data[:1])
    assert not broken.feed(b"", final=True)  # the file ends inside a character
    nul = TextCheck()
    assert nul.feed(b"hello")
    assert not nul.feed(b"wor\x00ld")


@pytest.mark.parametrize(
    ("client_name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("re\x00po\x1brt\u202egnp.pdf", "reportgnp.pdf"),
        ("  notes.txt  ", "notes.txt"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("dir/", "file"),
        ("Cafe\u0301.txt", "Café.txt"),
    ],
)
def test_the_client_name_is_sanitised_for_display(client_name: str | None, shown: str) -> None:
    assert display_name(client_name) == shown


def test_long_names_are_cut_to_255_keeping_the_extension() -> None:
    shown = display_name("a" * 400 + ".pdf")
    assert len(shown) == 255
    assert shown.endswith("a.pdf")
    no_extension = display_name("b" * 300)
    assert no_extension == "b" * 255


def test_size_limit_is_inclusive() -> None:
    check_size(100, max_bytes=100)
    with pytest.raises(FileTooLarge) as refused:
        check_size(101, max_bytes=100)
    assert refused.value.details == {"max_bytes": 100}


def test_quota_counts_what_is_used_plus_the_upload() -> None:
    check_quota(used_bytes=60, incoming_bytes=40, quota_bytes=100)  # exactly full is fine
    check_quota(used_bytes=0, incoming_bytes=100, quota_bytes=100)
    with pytest.raises(QuotaExceeded) as refused:
        check_quota(used_bytes=60, incoming_bytes=41, quota_bytes=100)
    assert refused.value.details == {"quota_bytes": 100, "used_bytes": 60, "incoming_bytes": 41}
    with pytest.raises(QuotaExceeded):
        check_quota(used_bytes=0, incoming_bytes=101, quota_bytes=100)
