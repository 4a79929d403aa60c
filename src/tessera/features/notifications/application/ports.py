"""What the notifications feature needs from the outside world."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from tessera.features.notifications.domain.notification import InboxItem, Notification, Recipient
from tessera.shared.domain.pagination import Page, PageRequest

SORTABLE = ("created_at",)


class NotificationRepository(Protocol):
    """Stored notifications and read marks, in the caller's unit of work; the caller commits.

    On PostgreSQL row-level security applies: a transaction sees its tenant's rows and the
    global ones, and writes a global row only on the all-tenants path."""

    async def add(self, notification: Notification) -> None: ...

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        """The notification, whoever it is addressed to (the use case checks the reader)."""
        ...

    async def mark_read(self, notification_id: uuid.UUID, reader: Recipient, at: datetime) -> None:
        """Record that `reader` read it; marking twice keeps the first time."""
        ...


class NotificationReader(Protocol):
    """The inbox: what a reader may see, with its own read marks."""

    async def inbox(
        self, reader: Recipient, page: PageRequest, *, unread: bool | None = None
    ) -> Page[InboxItem]:
        """The reader's own, its tenant's and the global notifications, sorted by
        `created_at` in `page.order` (ties by id); `unread` True keeps only those the reader
        has not marked read, False only those it has."""
        ...
