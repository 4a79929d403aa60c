"""Fakes for the notification use cases: one `Office` is the unit of work, outbox, clock,
users and tenants the use cases see, around the in-memory repository."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tessera.features.identity.domain.user import User
from tessera.features.notifications.adapters.memory_notifications import (
    InMemoryNotificationRepository,
)
from tessera.features.notifications.application.publish_notification import PublishNotification
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Office:
    def __init__(self) -> None:
        self.notifications = InMemoryNotificationRepository()
        self.users: dict[uuid.UUID, User] = {}
        self.tenants: dict[uuid.UUID, Tenant] = {}
        self.events: list[Event] = []
        self.commits = 0
        self.scope = TenantScope()

    # UserRepository (only what the use cases call) and TenantRepository
    async def get(self, some_id: uuid.UUID) -> User | None:
        return self.users.get(some_id)

    # Outbox, UnitOfWork, Clock
    def record(self, event: Event) -> None:
        self.events.append(event)

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        pass

    def now(self) -> datetime:
        return NOW

    def tenant(self) -> uuid.UUID:
        tenant = Tenant(id=uuid.uuid4(), name="T", is_active=True, created_at=NOW, updated_at=NOW)
        self.tenants[tenant.id] = tenant
        return tenant.id

    def member(self, tenant_id: uuid.UUID, role: Role = Role.USER) -> Principal:
        user = User.register(
            tenant_id=tenant_id,
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            full_name="Someone",
            role=role,
            now=NOW,
        )
        self.users[user.id] = user
        return Principal(user.id, tenant_id, role, uuid.uuid4())

    def publisher(self) -> PublishNotification:
        users: Any = self  # the part of `UserRepository` the use case calls
        tenants: Any = _Tenants(self)
        return PublishNotification(self.notifications, users, tenants, self, self, self, self.scope)


class _Tenants:
    """The part of `TenantRepository` the use case calls."""

    def __init__(self, office: Office) -> None:
        self._office = office

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return self._office.tenants.get(tenant_id)
