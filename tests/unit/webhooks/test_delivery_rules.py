"""The rules of endpoints and deliveries: events, rotation overlap, the retry schedule with
jitter and `Retry-After`, outcomes by status, and which deliveries can be replayed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.webhooks.domain.delivery import (
    DeliveryStatus,
    NotReplayable,
    RetrySchedule,
    WebhookDelivery,
    parse_retry_after,
    verdict,
)
from tessera.features.webhooks.domain.endpoint import (
    ROTATION_OVERLAP,
    UnknownEvent,
    WebhookEndpoint,
    check_events,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPEC_SCHEDULE = RetrySchedule((5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400))


def test_events_are_checked_and_kept_in_a_fixed_order() -> None:
    assert check_events(["file.deleted", "user.created", "file.deleted"]) == (
        "user.created",
        "file.deleted",
    )
    with pytest.raises(UnknownEvent):
        check_events(["user.created", "user.exploded"])
    with pytest.raises(UnknownEvent):
        check_events([])


def test_the_previous_secret_signs_only_during_the_overlap() -> None:
    endpoint = WebhookEndpoint.register(
        tenant_id=uuid.uuid4(),
        url="https://x.test/",
        events=["user.created"],
        description="",
        sealed_secret="old",
        now=NOW,
    )
    assert endpoint.sealed_signing_secrets(NOW) == ["old"]
    endpoint.rotate("new", NOW)
    assert endpoint.sealed_signing_secrets(NOW + ROTATION_OVERLAP - timedelta(seconds=1)) == [
        "new",
        "old",
    ]
    assert endpoint.sealed_signing_secrets(NOW + ROTATION_OVERLAP) == ["new"]


def test_the_schedule_waits_its_delays_within_ten_percent_then_gives_up() -> None:
    assert SPEC_SCHEDULE.max_attempts == 10
    assert SPEC_SCHEDULE.delay_after(1, draw=lambda: 0.5) == 5
    assert SPEC_SCHEDULE.delay_after(2, draw=lambda: 0.0) == pytest.approx(270)
    assert SPEC_SCHEDULE.delay_after(2, draw=lambda: 1.0) == pytest.approx(330)
    assert SPEC_SCHEDULE.delay_after(9, draw=lambda: 0.5) == 86400
    assert SPEC_SCHEDULE.delay_after(10) is None


def test_jitter_spreads_deliveries_that_failed_together() -> None:
    delays = {SPEC_SCHEDULE.delay_after(3) for _ in range(50)}
    assert len(delays) > 40
    assert all(d is not None and 1620 <= d <= 1980 for d in delays)


def test_retry_after_longer_than_the_schedule_wins_up_to_a_day() -> None:
    assert SPEC_SCHEDULE.delay_after(1, retry_after=120, draw=lambda: 0.5) == 120
    assert SPEC_SCHEDULE.delay_after(2, retry_after=1, draw=lambda: 0.5) == 300
    assert SPEC_SCHEDULE.delay_after(1, retry_after=10**9, draw=lambda: 0.5) == 86400


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120", now=NOW) == 120
    assert parse_retry_after("Tue, 01 Dec 2026 12:01:30 GMT", now=NOW) == 90
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "succeeded"),
        (204, "succeeded"),
        (301, "failed"),
        (302, "failed"),
        (404, "failed"),
        (410, "gone"),
        (429, "failed"),
        (500, "failed"),
        (None, "failed"),
    ],
    ids=str,
)
def test_only_2xx_succeeds_and_410_is_gone(status: int | None, expected: str) -> None:
    assert verdict(status) == expected


def test_only_a_failed_delivery_replays_and_it_keeps_its_id_and_body() -> None:
    delivery = WebhookDelivery.create(
        tenant_id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        event="webhook.test",
        body="{}",
        now=NOW,
    )
    with pytest.raises(NotReplayable):
        delivery.replay(NOW)
    delivery.retry_at(NOW + timedelta(seconds=5), 500, "HTTP 500", NOW)
    delivery.fail(500, "HTTP 500", NOW)
    webhook_id = delivery.webhook_id
    delivery.replay(NOW)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert (delivery.webhook_id, delivery.body) == (webhook_id, "{}")
    assert webhook_id.startswith("msg_")
