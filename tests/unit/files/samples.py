"""File bytes for the files tests: real PNGs and Office-shaped zips, hostile markup."""

from __future__ import annotations

import io
import zipfile

from tests.unit.identity.images import image_bytes

PNG = image_bytes("PNG")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
HTML = b"  \n<!DOCTYPE html><html><script>alert(1)</script></html>"
SVG = b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
TEXT = "Grüße, naïve café — plain notes\n".encode()


def zip_of(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, b"<xml/>")
    return out.getvalue()


DOCX = zip_of("[Content_Types].xml", "_rels/.rels", "word/document.xml")
XLSX = zip_of("_rels/.rels", "xl/workbook.xml", "[Content_Types].xml")
PLAIN_ZIP = zip_of("readme.txt", "word/document.xml")
