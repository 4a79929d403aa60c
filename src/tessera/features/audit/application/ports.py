"""Ports of the audit log: record an action in the caller's unit of work, read the rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tessera.features.audit.domain.event import AuditAction, AuditEvent, AuditFilter, DetailValue
from tessera.shared.domain.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where the request being served came from; all None outside an HTTP request (a
    worker's job, a CLI command)."""

    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class AuditTrail(Protocol):
    """Records a security-relevant action in the caller's unit of work: the row commits
    or rolls back with the action. The adapter adds the time and the request's origin
    (address, user agent, request id); the use case says only what, who and to what.

    Raises `SecretInDetails` (a programming error) for details that could hold a secret.
    """

    def record(
        self,
        action: AuditAction,
        *,
        tenant_id: uuid.UUID,
        actor_id: uuid.UUID | None,
        target_type: str,
        target_id: uuid.UUID,
        details: Mapping[str, DetailValue] | None = None,
    ) -> None: ...


class AuditLog(Protocol):
    """The recorded rows, read and pruned; there is no way to change one."""

    async def list(self, where: AuditFilter, page: PageRequest) -> Page[AuditEvent]:
        """One page of the rows matching `where`, newest first (`page.order` "asc" for
        oldest first), ties broken by id."""
        ...

    async def prune(self, before: datetime) -> int:
        """Deletes every row that occurred before `before`, in every tenant; returns how
        many. The caller commits."""
        ...
