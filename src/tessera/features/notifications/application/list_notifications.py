from __future__ import annotations

from tessera.features.notifications.application.ports import NotificationReader
from tessera.features.notifications.application.views import NotificationView, recipient
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.pagination import Page, PageRequest


class ListNotifications:
    """The caller's inbox: its own, its tenant's and the global notifications, newest first
    by default, each with the caller's own read mark; `unread` keeps only the unread (True)
    or the read (False) ones. Every role has the same kind of inbox: an admin's is its own,
    not every tenant's."""

    def __init__(self, reader: NotificationReader) -> None:
        self._reader = reader

    async def execute(
        self, caller: Principal, page: PageRequest, *, unread: bool | None = None
    ) -> Page[NotificationView]:
        found = await self._reader.inbox(recipient(caller), page, unread=unread)
        views = [NotificationView.of(item) for item in found.items]
        return Page(items=views, total_items=found.total_items, request=found.request)
