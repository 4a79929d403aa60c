"""The inbox, read marks, security notifications (and their job's payload checks) and the
push: each use case on the in-memory adapters."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import pytest

from tessera.features.identity.application.accounts import SECURITY_EVENTS
from tessera.features.jobs.domain.job import Job
from tessera.features.notifications.adapters.jobs import PushNotificationJob, SecurityAlertJob
from tessera.features.notifications.application.list_notifications import ListNotifications
from tessera.features.notifications.application.mark_notification_read import (
    MarkNotificationRead,
)
from tessera.features.notifications.application.notify_security_event import (
    NotifySecurityEvent,
    SecurityAlert,
)
from tessera.features.notifications.application.publish_notification import NewNotification
from tessera.features.notifications.application.push_notification import PushNotification
from tessera.features.notifications.application.views import (
    NOTIFICATION_PUBLISHED,
    PushedNotification,
)
from tessera.features.notifications.domain.notification import NotificationNotFound
from tessera.shared.adapters.memory_pubsub import InMemoryPubSub
from tessera.shared.domain.caller import Role
from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.pagination import PageRequest
from tests.unit.notifications.fakes import NOW, Office


async def test_marking_read_is_the_readers_own_and_idempotent() -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    acme = office.tenant()
    ann, bob = office.member(acme), office.member(acme)
    note = await office.publisher().execute(admin, NewNotification(title="T", tenant_id=acme))
    mark = MarkNotificationRead(office.notifications, office.unit_of_work, office.clock)
    await mark.execute(ann, note.id)
    await mark.execute(ann, note.id)
    inbox = ListNotifications(office.notifications)
    [ann_view] = (await inbox.execute(ann, PageRequest())).items
    [bob_view] = (await inbox.execute(bob, PageRequest())).items
    assert (ann_view.read, ann_view.read_at) == (True, NOW)
    assert (bob_view.read, bob_view.read_at) == (False, None)
    assert (await inbox.execute(ann, PageRequest(), unread=True)).items == []
    assert [v.id for v in (await inbox.execute(bob, PageRequest(), unread=True)).items] == [note.id]


async def test_a_notification_not_addressed_to_the_reader_is_not_found() -> None:
    office = Office()
    admin = office.member(office.tenant(), Role.ADMIN)
    ann, gus = office.member(office.tenant()), office.member(office.tenant())
    note = await office.publisher().execute(admin, NewNotification(title="T", user_id=ann.user_id))
    mark = MarkNotificationRead(office.notifications, office.unit_of_work, office.clock)
    for reader, notification_id in ((gus, note.id), (ann, uuid.uuid4())):
        with pytest.raises(NotificationNotFound):
            await mark.execute(reader, notification_id)


def alert_job(user: uuid.UUID, tenant: uuid.UUID, **fields: object) -> Job:
    data = {
        "user_id": str(user),
        "tenant_id": str(tenant),
        "event": "new sign-in",
        "occurred_at": NOW.isoformat(),
        "ip_address": "203.0.113.9",
        "user_agent": "Firefox",
    } | fields
    return Job(
        job_id=str(uuid.uuid4()),
        type="user.security_alert",
        data=data,
        attempts=0,
        created_at=NOW.isoformat(),
        tenant_id=str(tenant),
    )


async def test_a_security_alert_becomes_the_users_notification_with_the_events_id() -> None:
    office = Office()
    ann = office.member(office.tenant())
    job = alert_job(ann.user_id, ann.tenant_id)
    await SecurityAlertJob(NotifySecurityEvent(office.notifications, office.outbox)).handle(job)
    stored = await office.notifications.get(uuid.UUID(job.job_id))
    assert stored is not None
    assert (stored.user_id, stored.tenant_id, stored.title) == (
        ann.user_id,
        ann.tenant_id,
        "New sign-in to your account",
    )
    assert "203.0.113.9, Firefox" in stored.body
    assert [event.type for event in office.recorded] == [NOTIFICATION_PUBLISHED]
    assert office.commits == 0  # the job's unit of work commits it, with the job


async def test_a_password_change_alert_reads_as_such() -> None:
    office = Office()
    ann = office.member(office.tenant())
    notify = NotifySecurityEvent(office.notifications, office.outbox)
    alert = SecurityAlert(
        user_id=ann.user_id, tenant_id=ann.tenant_id, event="password changed", occurred_at=NOW
    )
    event_id = uuid.uuid4()
    await notify.execute(alert, event_id=event_id)
    stored = await office.notifications.get(event_id)
    assert stored is not None
    assert stored.title == "Your password was changed"


@pytest.mark.parametrize("event", SECURITY_EVENTS)
async def test_every_security_event_identity_records_becomes_a_notification(event: str) -> None:
    office = Office()
    ann = office.member(office.tenant())
    alert = SecurityAlert(
        user_id=ann.user_id, tenant_id=ann.tenant_id, event=event, occurred_at=NOW
    )
    event_id = uuid.uuid4()
    await NotifySecurityEvent(office.notifications, office.outbox).execute(alert, event_id=event_id)
    stored = await office.notifications.get(event_id)
    assert stored is not None
    assert stored.kind.value.startswith("security.")


@pytest.mark.parametrize(
    "fields",
    [{"event": "coffee spilled"}, {"user_id": "nobody"}, {"occurred_at": "yesterday"}],
    ids=["unknown-event", "bad-user", "bad-time"],
)
async def test_a_bad_security_alert_is_invalid_input_and_stores_nothing(
    fields: dict[str, object],
) -> None:
    office = Office()
    ann = office.member(office.tenant())
    job = alert_job(ann.user_id, ann.tenant_id, **fields)
    with pytest.raises(InvalidInput):
        await SecurityAlertJob(NotifySecurityEvent(office.notifications, office.outbox)).handle(job)
    assert office.recorded == []


async def test_the_push_sends_the_spec_frame_on_the_notifications_channel() -> None:
    pubsub = InMemoryPubSub()
    pushed = PushedNotification(
        id=uuid.uuid4(),
        channel="tenant.7",
        title="T",
        body="B",
        timestamp=NOW + timedelta(seconds=1),
    )
    job = Job(
        job_id=str(uuid.uuid4()),
        type=NOTIFICATION_PUBLISHED,
        attempts=0,
        data=msgspec.to_builtins(pushed),
        created_at=NOW.isoformat(),
    )
    async with pubsub.subscribe("tenant.7") as subscription:
        await PushNotificationJob(PushNotification(pubsub)).handle(job)
        channel, frame = await anext(aiter(subscription))
    assert channel == "tenant.7"
    assert msgspec.json.decode(frame) == {
        "type": "notification",
        "channel": "tenant.7",
        "data": {
            "id": str(pushed.id),
            "title": "T",
            "body": "B",
            "timestamp": "2026-06-01T09:00:01Z",
        },
    }
    with pytest.raises(InvalidInput):
        await PushNotificationJob(PushNotification(pubsub)).handle(
            msgspec.structs.replace(job, data={"channel": 3})
        )
