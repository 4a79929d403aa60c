"""The notifications feature's job handlers."""

from __future__ import annotations

import uuid

import msgspec

from tessera.features.jobs.domain.job import Job
from tessera.features.notifications.application.notify_security_event import (
    NotifySecurityEvent,
    SecurityAlert,
)
from tessera.features.notifications.application.push_notification import PushNotification
from tessera.features.notifications.application.views import PushedNotification
from tessera.shared.domain.errors import InvalidInput


class PushNotificationJob:
    """`notification.published`: push the committed notification to live sockets."""

    def __init__(self, push: PushNotification) -> None:
        self._push = push

    async def handle(self, job: Job) -> None:
        try:
            pushed = msgspec.convert(job.data, PushedNotification, strict=False)
        except msgspec.ValidationError as error:
            raise InvalidInput(f"Bad notification.published payload: {error}") from None
        await self._push.execute(pushed)


class SecurityAlertJob:
    """Identity's `user.security_alert`: the account's owner gets a notification, with the
    event's id as its own (`RunJob` commits it with the job, once)."""

    def __init__(self, notify: NotifySecurityEvent) -> None:
        self._notify = notify

    async def handle(self, job: Job) -> None:
        try:
            alert = msgspec.convert(job.data, SecurityAlert, strict=False)
            event_id = uuid.UUID(job.job_id)
        except (msgspec.ValidationError, ValueError) as error:
            raise InvalidInput(f"Bad user.security_alert payload: {error}") from None
        await self._notify.execute(alert, event_id=event_id)
