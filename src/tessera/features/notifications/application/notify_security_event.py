from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tessera.features.notifications.application.ports import NotificationRepository
from tessera.features.notifications.application.views import notification_published
from tessera.features.notifications.domain.notification import Kind, Notification
from tessera.shared.application.ports import Outbox
from tessera.shared.domain.errors import InvalidInput


class SecurityAlert(msgspec.Struct, frozen=True, kw_only=True):
    """Identity's `user.security_alert` payload."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    event: str
    occurred_at: datetime
    ip_address: str | None = None
    user_agent: str | None = None


_WORDING = {
    "new sign-in": (
        Kind.NEW_SIGN_IN,
        "New sign-in to your account",
        "Signed in from {device} at {at}. If this was not you, change your password.",
    ),
    "password changed": (
        Kind.PASSWORD_CHANGED,
        "Your password was changed",
        "Your password was changed at {at} and your other sessions were signed out. "
        "If this was not you, reset your password at once.",
    ),
    "two-factor sign-in turned on": (
        Kind.MFA_ENABLED,
        "Two-factor sign-in is on",
        "Two-factor sign-in was turned on for your account at {at}. "
        "Keep your recovery codes somewhere safe.",
    ),
    "two-factor sign-in turned off": (
        Kind.MFA_DISABLED,
        "Two-factor sign-in is off",
        "Two-factor sign-in was turned off for your account at {at}. "
        "If this was not you, change your password and turn it on again.",
    ),
    "recovery code used to sign in": (
        Kind.RECOVERY_CODE_USED,
        "A recovery code was used",
        "A recovery code was used to sign in from {device} at {at}; it cannot be used again. "
        "If this was not you, change your password and replace your recovery codes.",
    ),
    "recovery codes replaced": (
        Kind.RECOVERY_CODES_REPLACED,
        "Your recovery codes were replaced",
        "New recovery codes were made for your account at {at}; the old ones no longer work.",
    ),
}


class NotifySecurityEvent:
    """Tells the account's owner about a security event (a new sign-in, a password change,
    two-factor sign-in turned on or off, a recovery code used or the codes replaced).

    Runs inside the `user.security_alert` job's unit of work, which commits it with the
    job's completion: the notification and its `notification.published` event are stored
    exactly once per event, however often the job is delivered. The notification's id is
    the event's, so the two can be matched. An unknown event is `InvalidInput`."""

    def __init__(self, notifications: NotificationRepository, outbox: Outbox) -> None:
        self._notifications, self._outbox = notifications, outbox

    async def execute(self, alert: SecurityAlert, *, event_id: uuid.UUID) -> None:
        if alert.event not in _WORDING:
            raise InvalidInput(f"Unknown security event {alert.event!r}.", field="event")
        kind, title, template = _WORDING[alert.event]
        device = ", ".join(part for part in (alert.ip_address, alert.user_agent) if part)
        body = template.format(
            device=device or "an unknown device",
            at=alert.occurred_at.isoformat(timespec="seconds"),
        )
        notification = Notification.create(
            id=event_id,
            tenant_id=alert.tenant_id,
            user_id=alert.user_id,
            kind=kind,
            title=title,
            body=body[:5000],
            created_at=alert.occurred_at,
        )
        await self._notifications.add(notification)
        self._outbox.record(notification_published(notification))
