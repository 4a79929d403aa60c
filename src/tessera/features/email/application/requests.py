"""How other features ask for an email: an `email.send` event recorded in their outbox."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from tessera.features.email.application.send_email import EmailRequest
from tessera.features.email.domain.errors import UnknownTemplate
from tessera.features.email.domain.message import TEMPLATE_NAMES
from tessera.shared.domain.events import Event

EMAIL_SEND = "email.send"


def email_requested(
    template: str,
    to: str,
    context: Mapping[str, Any],
    *,
    tenant_id: uuid.UUID | None = None,
) -> Event:
    """The event asking for `template` to be sent to `to`.

    A template name nobody ships fails here, in the caller's transaction, rather than later
    on the worker. The payload is plain JSON (datetimes and UUIDs become strings) and
    converts back with `msgspec.convert(event.payload, EmailRequest)`.
    """
    if template not in TEMPLATE_NAMES:
        raise UnknownTemplate(field="template")
    request = EmailRequest(template=template, to=to, context=dict(context))
    return Event(type=EMAIL_SEND, payload=msgspec.to_builtins(request), tenant_id=tenant_id)
