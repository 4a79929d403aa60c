"""Reading the emails tests receive (SMTP or `.eml` files)."""

from __future__ import annotations

from email.message import MIMEPart


def body_text(message: MIMEPart, subtype: str = "plain") -> str:
    """The message's text/`subtype` body; fails the test when it has none."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content
