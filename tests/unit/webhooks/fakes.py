"""Fakes for the webhook use cases: a sender that answers from a script, a guard over a
table, a reversible secret box; the rest are the per-port fakes of tests/fakes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tessera.features.identity.domain.user import User
from tessera.features.webhooks.adapters.memory import (
    InMemoryDeliveryRepository,
    InMemoryEndpointRepository,
)
from tessera.features.webhooks.application.deliver_webhook import DeliverWebhook
from tessera.features.webhooks.application.endpoints import WebhooksConfig
from tessera.features.webhooks.application.ports import Response
from tessera.features.webhooks.domain.delivery import RetrySchedule
from tessera.features.webhooks.domain.targets import CheckedTarget, UnsafeTarget
from tessera.shared.domain.caller import Role
from tests.fakes.clock import FakeClock
from tests.fakes.identity import FakeUserRepository, FakeUserSearch
from tests.fakes.unit_of_work import FakeUnitOfWork, RecordingOutbox

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Sent:
    target: CheckedTarget
    body: bytes
    headers: Mapping[str, str]


@dataclass
class ScriptedSender:
    """Answers from `script` in order, then 200; remembers what it was asked to send."""

    script: list[Response] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    async def post(
        self, target: CheckedTarget, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        self.sent.append(Sent(target, body, headers))
        return self.script.pop(0) if self.script else Response(200)


class TableGuard:
    """Refuses the URLs in `refused`; every other URL is checked to 203.0.113.10."""

    def __init__(self) -> None:
        self.refused: set[str] = set()

    async def check(self, url: str) -> CheckedTarget:
        if url in self.refused:
            raise UnsafeTarget("The webhook URL's address 10.0.0.1 is not allowed.")
        return CheckedTarget(url, "hooks.test", 443, ("203.0.113.10",))


class ClearBox:
    """A `SecretBox` that only marks what it seals (the real one is tested on its own)."""

    def seal(self, plaintext: str) -> str:
        return f"sealed:{plaintext}"

    def open(self, sealed: str) -> str:
        return sealed.removeprefix("sealed:")


def an_admin(tenant_id: uuid.UUID, email: str, role: Role = Role.TENANT_ADMIN) -> User:
    return User.register(
        tenant_id=tenant_id, email=email, password_hash="x", full_name="Boss", role=role, now=NOW
    )


@dataclass
class World:
    """The in-memory webhook repositories of the embedded mode, and the per-port fakes."""

    endpoints: InMemoryEndpointRepository
    deliveries: InMemoryDeliveryRepository
    sender: ScriptedSender
    guard: TableGuard
    users: FakeUserRepository
    unit_of_work: FakeUnitOfWork
    outbox: RecordingOutbox
    clock: FakeClock

    def deliver(self, schedule: tuple[float, ...] = (5, 300)) -> DeliverWebhook:
        return DeliverWebhook(
            self.endpoints,
            self.deliveries,
            self.guard,
            self.sender,
            ClearBox(),
            FakeUserSearch(self.users),
            self.outbox,
            self.unit_of_work,
            self.clock,
            WebhooksConfig(schedule=RetrySchedule(schedule, jitter=0.0)),
        )


def a_world() -> World:
    endpoints = InMemoryEndpointRepository()
    unit_of_work = FakeUnitOfWork()
    return World(
        endpoints,
        InMemoryDeliveryRepository(endpoints),
        ScriptedSender(),
        TableGuard(),
        FakeUserRepository(unit_of_work),
        unit_of_work,
        RecordingOutbox(unit_of_work),
        FakeClock(NOW),
    )
