"""Domain events: facts a use case records so that work can happen after its commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened (`user.created`) or was asked for (`email.send`).

    `payload` is plain JSON data; `id` doubles as the job id of the work it causes, so the
    work can be recognised when it is delivered twice.
    """

    type: str
    payload: dict[str, Any]
    tenant_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
