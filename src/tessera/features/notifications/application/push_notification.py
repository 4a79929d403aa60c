from __future__ import annotations

from tessera.features.notifications.application.views import (
    PushedNotification,
    notification_frame,
)
from tessera.shared.application.pubsub import PubSub


class PushNotification:
    """Sends a committed notification to the live sockets of its channel, in every process.

    Runs as the `notification.published` job, so it happens after the commit; delivery is at
    least once (a retried job pushes again: clients recognise a notification by its id), and
    a socket that was not connected finds it later with `GET /notifications`. A broker
    outage raises `DependencyUnavailable`, and the job is retried."""

    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def execute(self, pushed: PushedNotification) -> None:
        await self._pubsub.publish(pushed.channel, notification_frame(pushed))
