"""An email as the service sends it: who, what, and the id that makes retries recognisable."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tessera.shared.domain.errors import InvalidInput

TEMPLATE_NAMES = frozenset(
    {
        "welcome_email",
        "verify_email",
        "password_reset",
        "invitation",
        "security_alert",
        "webhook_disabled",
    }
)

_MESSAGE_ID_KEY = re.compile(r"[A-Za-z0-9._-]{1,200}")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """One message ready for the mail system.

    Rules: at least one recipient; no header field (sender, recipients, subject, message id)
    contains a line break, so nothing can smuggle extra headers in; `message_id` is a full
    RFC 5322 Message-ID, `<left@right>`.
    """

    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str

    def __post_init__(self) -> None:
        if not self.to:
            raise InvalidInput("An email needs at least one recipient.", field="to")
        for value in (self.message_id, self.sender, self.subject, *self.to):
            if "\r" in value or "\n" in value:
                raise InvalidInput("Email headers cannot contain line breaks.")
        if not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", self.message_id):
            raise InvalidInput("A Message-ID looks like <left@right>.", field="message_id")


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the work identified by `key` (a job id): the same key, the same id,
    so every retry of one job carries one Message-ID."""
    if not _MESSAGE_ID_KEY.fullmatch(key):
        raise InvalidInput("A message key is 1-200 letters, digits, '.', '_' or '-'.")
    return f"<{key}@{domain}>"
