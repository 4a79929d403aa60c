"""`/api/v1/notifications` (SPEC §3.7): the caller's inbox, read marks, and publishing."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from dishka import AsyncContainer
from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, QueryParameter

from tessera.features.notifications.application.list_notifications import ListNotifications
from tessera.features.notifications.application.mark_notification_read import (
    MarkNotificationRead,
)
from tessera.features.notifications.application.ports import SORTABLE
from tessera.features.notifications.application.publish_notification import (
    ONE_TARGET,
    NewNotification,
    NotAPublisher,
    PublishNotification,
)
from tessera.features.notifications.application.views import NotificationView
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import PageRequest
from tessera.shared.http.di import FromDishka, connection_container, inject
from tessera.shared.http.envelope import Done, Paginated, Success, done, ok, paginated
from tessera.shared.http.pagination import page_request


async def publishers_only(
    _connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """401 without a live session, 403 for a `user`, before the body is read (so callers who
    may not publish learn nothing from validation errors). The use case checks again."""
    if not handler.opt.get("publishers_only"):
        return
    container: AsyncContainer = connection_container()
    caller = await container.get(Principal)
    if caller.role not in (Role.ADMIN, Role.TENANT_ADMIN):
        raise NotAPublisher()


class NotificationsController(Controller):
    path = "/notifications"
    tags = ("notifications",)
    guards = [publishers_only]  # noqa: RUF012 (Litestar's own attribute)

    @get(
        "/",
        summary="The caller's notifications: its own, its tenant's and global ones.",
        dependencies={"paging": page_request(SORTABLE)},
    )
    @inject
    async def list_notifications(
        self,
        caller: FromDishka[Principal],
        paging: NamedDependency[PageRequest],
        notifications: FromDishka[ListNotifications],
        unread: Annotated[
            bool | None,
            QueryParameter(description="true: only unread ones; false: only read ones."),
        ] = None,
    ) -> Paginated[NotificationView]:
        found = await notifications.execute(caller, paging, unread=unread)
        return paginated(found, lambda view: view)

    @post(
        "/{notification_id:uuid}/read",
        status_code=200,
        summary="Mark one notification read for the caller (idempotent).",
    )
    @inject
    async def mark_read(
        self,
        caller: FromDishka[Principal],
        notification_id: FromPath[uuid.UUID],
        mark: FromDishka[MarkNotificationRead],
    ) -> Done:
        await mark.execute(caller, notification_id)
        return done("Notification marked as read")

    @post(
        "/",
        status_code=201,
        opt={"publishers_only": True},
        summary="Publish a notification to a user, a tenant or everyone (administrators).",
    )
    @inject
    async def publish(
        self,
        caller: FromDishka[Principal],
        data: Annotated[
            NewNotification,
            Body(media_type=RequestEncodingType.JSON, schema_extra={"oneOf": ONE_TARGET}),
        ],
        publish: FromDishka[PublishNotification],
    ) -> Success[NotificationView]:
        return ok(await publish.execute(caller, data), message="Notification published")
