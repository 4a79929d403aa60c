"""The notification use cases' world: the in-memory repository of the embedded mode and
the per-port fakes of tests/fakes, sharing one unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tessera.features.identity.domain.user import User
from tessera.features.notifications.adapters.memory_notifications import (
    InMemoryNotificationRepository,
)
from tessera.features.notifications.application.publish_notification import PublishNotification
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.events import Event
from tests.fakes.clock import FakeClock
from tests.fakes.identity import FakeUserRepository
from tests.fakes.tenancy import FakeTenantRepository
from tests.fakes.unit_of_work import FakeUnitOfWork, RecordingOutbox

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Office:
    def __init__(self) -> None:
        self.notifications = InMemoryNotificationRepository()
        self.unit_of_work = FakeUnitOfWork()
        self.outbox = RecordingOutbox(self.unit_of_work)
        self.users = FakeUserRepository(self.unit_of_work)
        self.tenants = FakeTenantRepository(self.unit_of_work)
        self.clock = FakeClock(NOW)
        self.scope = TenantScope()

    @property
    def recorded(self) -> list[Event]:
        """Every event recorded, committed or not (a job's unit of work commits it later)."""
        return self.outbox.events + self.outbox.pending

    @property
    def commits(self) -> int:
        return self.unit_of_work.commits

    def tenant(self) -> uuid.UUID:
        tenant = Tenant(id=uuid.uuid4(), name="T", is_active=True, created_at=NOW, updated_at=NOW)
        self.tenants.rows.put_committed(tenant.id, tenant)
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
        self.users.rows.put_committed(user.id, user)
        return Principal(user.id, tenant_id, role, uuid.uuid4())

    def publisher(self) -> PublishNotification:
        return PublishNotification(
            self.notifications,
            self.users,
            self.tenants,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.scope,
        )
