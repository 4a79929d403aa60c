from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tessera.features.email.domain.message import EmailMessage, RenderedEmail


class Mailer(Protocol):
    """Hands finished messages to a mail system (an SMTP server, or the outbox folder)."""

    async def send(self, message: EmailMessage) -> None:
        """Return once the mail system has accepted `message` for delivery.

        Raises `MailNotSent` when it did not: refused, unreachable or too slow. The error
        never carries credentials. Not idempotent: sending one `message_id` twice may deliver
        it twice, so callers that retry must remember what they sent.
        """
        ...

    async def check(self) -> None:
        """Return if the mail system answers now, raise (`MailNotSent`) if not; sends nothing.

        For `/health/email`; the caller bounds the time it waits.
        """
        ...


class TemplateRenderer(Protocol):
    """Turns a template name and its variables into a subject, a text part and an HTML part."""

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Values are escaped in the HTML part and verbatim in the text part; the subject is
        one line. Raises `UnknownTemplate` for a name it does not know and
        `MissingTemplateVariable` when `context` lacks a variable the template uses (never
        renders a blank instead)."""
        ...
