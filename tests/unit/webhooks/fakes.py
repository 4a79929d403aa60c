"""Fakes for the webhook use cases: a sender that answers from a script, a guard over a
table, a reversible secret box, the outbox and unit of work, and tenant admins."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tessera.features.identity.application.ports import UserFilter
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
from tessera.shared.domain.events import Event
from tessera.shared.domain.pagination import Page, PageRequest

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.current = NOW

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


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


class Admins:
    def __init__(self, users: list[User]) -> None:
        self.users = users

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        found = [u for u in self.users if u.tenant_id == where.tenant_id and u.role == where.role]
        return Page(items=found, total_items=len(found), request=page)


class Transaction:
    """Outbox and unit of work in one: events count once committed."""

    def __init__(self) -> None:
        self.pending: list[Event] = []
        self.events: list[Event] = []
        self.commits = 0

    def record(self, event: Event) -> None:
        self.pending.append(event)

    async def commit(self) -> None:
        self.events += self.pending
        self.pending.clear()
        self.commits += 1

    async def rollback(self) -> None:
        self.pending.clear()


def an_admin(tenant_id: uuid.UUID, email: str, role: Role = Role.TENANT_ADMIN) -> User:
    return User.register(
        tenant_id=tenant_id, email=email, password_hash="x", full_name="Boss", role=role, now=NOW
    )


@dataclass
class World:
    endpoints: InMemoryEndpointRepository
    deliveries: InMemoryDeliveryRepository
    sender: ScriptedSender
    guard: TableGuard
    admins: Admins
    transaction: Transaction
    clock: Clock

    def deliver(self, schedule: tuple[float, ...] = (5, 300)) -> DeliverWebhook:
        return DeliverWebhook(
            self.endpoints,
            self.deliveries,
            self.guard,
            self.sender,
            ClearBox(),
            self.admins,
            self.transaction,
            self.transaction,
            self.clock,
            WebhooksConfig(schedule=RetrySchedule(schedule, jitter=0.0)),
        )


def a_world() -> World:
    endpoints = InMemoryEndpointRepository()
    return World(
        endpoints,
        InMemoryDeliveryRepository(endpoints),
        ScriptedSender(),
        TableGuard(),
        Admins([]),
        Transaction(),
        Clock(),
    )
