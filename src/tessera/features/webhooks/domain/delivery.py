"""One event on its way to one endpoint, and when a failed attempt is tried again.

Rules (SPEC §3.8):
- the body (`{"event","timestamp","data"}`) and `webhook_id` are fixed when the delivery is
  made, so every attempt sends the same bytes under the same id;
- a 2xx answer succeeds; a 410 fails the delivery and disables the endpoint at once; anything
  else (another status, 3xx included, a timeout, a refused connection, an unsafe address) is
  a failed attempt, retried after the next delay of the schedule (with jitter), or later if
  the receiver asked with `Retry-After` on a 429 or 503;
- when the schedule is used up the delivery fails for good;
- only a failed delivery can be replayed: it starts the schedule again, same id and body.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal

from tessera.shared.domain.errors import Conflict, NotFound

MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
RETRY_AFTER_STATUSES = frozenset({429, 503})
Verdict = Literal["succeeded", "gone", "failed"]


class DeliveryNotFound(NotFound):
    default_message = "Delivery not found."


class NotReplayable(Conflict):
    default_message = "Only a failed delivery can be replayed."


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def verdict(status_code: int | None) -> Verdict:
    if status_code is not None and 200 <= status_code < 300:
        return "succeeded"
    return "gone" if status_code == 410 else "failed"


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a `Retry-After` value (delay seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """`delays[n]` seconds wait after the (n+1)th failed attempt, spread ±`jitter` so that
    deliveries that failed together (a receiver that was down) do not return together."""

    delays: tuple[float, ...]
    jitter: float = 0.1

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def delay_after(
        self,
        attempts: int,
        *,
        retry_after: float | None = None,
        draw: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds before the next attempt after `attempts` attempts, or None: give up.
        A `Retry-After` longer than the scheduled wait wins (capped at a day)."""
        if attempts >= self.max_attempts:
            return None
        delay = self.delays[attempts - 1] * (1 + self.jitter * (2 * draw() - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return float(delay)


@dataclass(slots=True)
class WebhookDelivery:
    id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID  # the outbox event it delivers: one delivery per endpoint and event
    event: str
    body: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        event_id: uuid.UUID,
        event: str,
        body: str,
        now: datetime,
    ) -> WebhookDelivery:
        delivery_id = uuid.uuid4()
        return cls(
            id=delivery_id,
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event=event,
            body=body,
            webhook_id=f"msg_{delivery_id.hex}",
            status=DeliveryStatus.PENDING,
            attempts=0,
            last_status_code=None,
            last_error=None,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )

    def succeed(self, status_code: int, now: datetime) -> None:
        self._attempted(status_code, None, now)
        self.status, self.next_attempt_at = DeliveryStatus.SUCCEEDED, None

    def retry_at(
        self, at: datetime, status_code: int | None, error: str | None, now: datetime
    ) -> None:
        self._attempted(status_code, error, now)
        self.next_attempt_at = at

    def fail(
        self, status_code: int | None, error: str | None, now: datetime, *, attempted: bool = True
    ) -> None:
        if attempted:
            self._attempted(status_code, error, now)
        else:
            self.last_error, self.updated_at = error, now
        self.status, self.next_attempt_at = DeliveryStatus.FAILED, None

    def replay(self, now: datetime) -> None:
        if self.status is not DeliveryStatus.FAILED:
            raise NotReplayable(field="delivery_id")
        self.status, self.attempts, self.next_attempt_at = DeliveryStatus.PENDING, 0, now
        self.updated_at = now

    def _attempted(self, status_code: int | None, error: str | None, now: datetime) -> None:
        self.attempts += 1
        self.last_status_code = status_code
        self.last_error = None if error is None else error[:500]
        self.updated_at = now
