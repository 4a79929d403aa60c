"""The hourly housekeeping as the container assembles it: every feature's chores, configured
from the settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.audit.adapters.models import AuditEventModel
from tessera.features.audit.adapters.sql_audit import SqlAuditTrail
from tessera.features.audit.application.ports import RequestOrigin
from tessera.features.audit.application.prune_audit_events import PruneAuditEvents
from tessera.features.audit.domain.event import AuditAction
from tessera.features.files.application.reconcile_files import ReconcileFiles
from tessera.features.identity.adapters.models import UserModel
from tessera.features.identity.adapters.sql_users import SqlUserRepository
from tessera.features.identity.application.prune_spent_links import PruneSpentLinks
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.domain.user import User
from tessera.features.jobs.application.prune_finished_jobs import PruneFinishedJobs
from tessera.features.jobs.application.run_housekeeping import Chore, RunHousekeeping
from tessera.features.tenancy.adapters.sql_tenants import SqlTenantRepository
from tessera.main.ioc import make_container
from tessera.main.settings import ConfigError, load_settings
from tessera.shared.adapters.database import create_engine
from tessera.shared.domain.caller import Role
from tests import services
from tests.e2e.harness import settings_for


async def deleted_user(url: str, deleted_at: datetime) -> uuid.UUID:
    engine = create_engine(url)
    tenant = uuid.uuid4()
    user = User.register(
        tenant_id=tenant,
        email=f"{tenant.hex[:8]}@example.com",
        password_hash="x",
        full_name="A",
        role=Role.USER,
        now=deleted_at - timedelta(days=1),
    )
    user.soft_delete(deleted_at)
    async with AsyncSession(engine) as session:
        await SqlTenantRepository(session).create(tenant_id=tenant, name="T")
        await SqlUserRepository(session).add(user)
        await session.commit()
    await engine.dispose()
    return user.id


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


async def audit_row(url: str, occurred_at: datetime) -> uuid.UUID:
    engine = create_engine(url)
    target = uuid.uuid4()
    async with AsyncSession(engine) as session:
        SqlAuditTrail(session, FixedClock(occurred_at), RequestOrigin()).record(
            AuditAction.LOGIN_SUCCEEDED,
            tenant_id=uuid.uuid4(),
            actor_id=None,
            target_type="user",
            target_id=target,
        )
        await session.commit()
    await engine.dispose()
    return target


async def test_housekeeping_runs_every_features_chores_with_the_configured_retention(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    now = datetime.now(UTC)
    expired = await deleted_user(url, now - timedelta(days=8))
    retained = await deleted_user(url, now - timedelta(days=6))
    await audit_row(url, now - timedelta(days=41))  # past the retention
    kept_row = await audit_row(url, now - timedelta(days=39))
    container = make_container(
        settings_for(
            database_url=url,
            data_dir=str(tmp_path),
            account_retention_days="7",
            audit_retention_days="40",
        )
    )
    try:
        async with container() as request:
            chores = await request.get(list[Chore])
            assert [type(chore) for chore in chores] == [
                PruneFinishedJobs,
                PruneSpentLinks,
                PurgeDeletedAccounts,
                ReconcileFiles,
                PruneAuditEvents,
            ]
        async with container() as request:
            done = await (await request.get(RunHousekeeping)).execute()
    finally:
        await container.close()

    assert done == {
        "PruneFinishedJobs": 0,
        "PruneSpentLinks": 0,
        "PurgeDeletedAccounts": 1,
        "ReconcileFiles": 0,
        "PruneAuditEvents": 1,
    }
    engine = create_engine(url)
    async with AsyncSession(engine) as session:
        left = set((await session.execute(select(UserModel.id))).scalars())
        rows = set((await session.execute(select(AuditEventModel.target_id))).scalars())
    await engine.dispose()
    assert expired not in left
    assert retained in left
    assert rows == {kept_row}, "audit rows older than AUDIT_RETENTION_DAYS are pruned"


@pytest.mark.parametrize("days", ["0", "-3", "soon"])
def test_the_retention_must_be_a_whole_number_of_days_from_one(days: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"ACCOUNT_RETENTION_DAYS": days}, dotenv_path=None)
    assert str(caught.value).startswith("ACCOUNT_RETENTION_DAYS: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("days", ["29", "0", "a year"])
def test_the_audit_retention_is_at_least_30_days(days: str) -> None:
    """Migration 0010's prune function refuses younger rows on PostgreSQL."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"AUDIT_RETENTION_DAYS": days}, dotenv_path=None)
    assert str(caught.value).startswith("AUDIT_RETENTION_DAYS: ")
    assert load_settings({}, dotenv_path=None).audit_retention_days == 365
