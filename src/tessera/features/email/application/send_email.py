from __future__ import annotations

from typing import Any

import msgspec

from tessera.features.email.application.ports import Mailer, TemplateRenderer
from tessera.features.email.domain.message import EmailMessage, message_id_for


class EmailRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a job asks for: one template, one recipient, the template's variables."""

    template: str
    to: str
    context: dict[str, Any]


class SendEmail:
    """Renders a requested email and hands it to the mail system.

    Rules:
    - one request is one message to one recipient, from the configured sender;
    - the Message-ID is `<key@message_domain>`, `key` being the job's id, so every retry of
      one job sends the same Message-ID; a key or recipient that cannot go into a header
      safely (line breaks, odd characters) is `InvalidInput`;
    - an unknown template (`UnknownTemplate`) or a missing variable
      (`MissingTemplateVariable`) is permanent: retrying cannot help;
    - `MailNotSent` means the mail system did not take it: the caller may retry later;
    - links and names come only from `request.context`, never from an incoming request.
    """

    def __init__(
        self,
        renderer: TemplateRenderer,
        mailer: Mailer,
        sender: str,
        message_domain: str = "tessera",
    ) -> None:
        self._renderer = renderer
        self._mailer = mailer
        self._sender = sender
        self._domain = message_domain

    async def execute(self, request: EmailRequest, *, key: str) -> None:
        rendered = self._renderer.render(request.template, request.context)
        message = EmailMessage(
            message_id=message_id_for(key, self._domain),
            sender=self._sender,
            to=(request.to,),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
        await self._mailer.send(message)
