"""A tenant's webhook endpoint: where events go, which ones, and the secrets that sign them.

Rules (SPEC §3.8):
- an endpoint subscribes to at least one of `EVENT_TYPES`; an unknown name is refused;
- the signing secret is kept sealed (encrypted); only `RegisterEndpoint` and `RotateSecret`
  ever see it in clear, and show it once;
- after a rotation the previous secret still signs for `ROTATION_OVERLAP` (24 h), so a
  receiver that has not switched yet keeps accepting deliveries;
- a disabled endpoint receives nothing; `disabled_reason` says why (an admin, a 410, or
  deliveries that failed for good) and re-enabling clears it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tessera.shared.domain.errors import Conflict, InvalidInput, NotFound


class WebhookEvent(StrEnum):
    """An event a webhook can subscribe to."""

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    FILE_UPLOADED = "file.uploaded"
    FILE_DELETED = "file.deleted"
    WEBHOOK_TEST = "webhook.test"


EVENT_TYPES = tuple(event.value for event in WebhookEvent)
ROTATION_OVERLAP = timedelta(hours=24)
MAX_DESCRIPTION = 500
MAX_URL = 2048


class WebhookNotFound(NotFound):
    default_message = "Webhook not found."


class UnknownEvent(InvalidInput):
    default_message = "Unknown webhook event."


class EndpointDisabled(Conflict):
    default_message = "The webhook is disabled; enable it first."


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The subscribed events, de-duplicated in the order of `EVENT_TYPES`; 400 otherwise."""
    chosen = set(events)
    if not chosen:
        raise UnknownEvent("Subscribe to at least one event.", field="events")
    unknown = sorted(chosen - set(EVENT_TYPES))
    if unknown:
        allowed = ", ".join(EVENT_TYPES)
        raise UnknownEvent(f"Unknown event {unknown[0]!r}; choose from {allowed}.", field="events")
    return tuple(event for event in EVENT_TYPES if event in chosen)


def check_description(description: str) -> str:
    text = description.strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"The description is at most {MAX_DESCRIPTION} characters.", field="description"
        )
    return text


@dataclass(slots=True)
class WebhookEndpoint:
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str | None
    sealed_secret: str
    sealed_previous_secret: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def register(
        cls,
        *,
        tenant_id: uuid.UUID,
        url: str,
        events: Iterable[str],
        description: str,
        sealed_secret: str,
        now: datetime,
    ) -> WebhookEndpoint:
        return cls(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            url=url,
            events=check_events(events),
            description=check_description(description),
            enabled=True,
            disabled_reason=None,
            sealed_secret=sealed_secret,
            sealed_previous_secret=None,
            previous_secret_expires_at=None,
            created_at=now,
            updated_at=now,
        )

    def subscribes_to(self, event: str) -> bool:
        return event in self.events

    def sealed_signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, then the previous one while its overlap lasts."""
        sealed = [self.sealed_secret]
        expires = self.previous_secret_expires_at
        if self.sealed_previous_secret is not None and expires is not None and now < expires:
            sealed.append(self.sealed_previous_secret)
        return sealed

    def rotate(self, sealed_secret: str, now: datetime) -> None:
        self.sealed_previous_secret = self.sealed_secret
        self.previous_secret_expires_at = now + ROTATION_OVERLAP
        self.sealed_secret = sealed_secret
        self.updated_at = now

    def disable(self, reason: str, now: datetime) -> None:
        self.enabled, self.disabled_reason, self.updated_at = False, reason[:500], now

    def enable(self, now: datetime) -> None:
        self.enabled, self.disabled_reason, self.updated_at = True, None, now
