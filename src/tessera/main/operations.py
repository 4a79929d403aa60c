"""Operator commands that run a use case once, outside any request."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from tessera.features.backups.application.back_up_database import BackUpDatabase, BackupResult
from tessera.features.backups.domain.backup import BackupsNeedPostgres
from tessera.features.identity.adapters.redis_session_layout import (
    LayoutMove,
    move_to_tagged_layout,
)
from tessera.features.identity.application.create_admin import CreateAdmin, NewAdmin
from tessera.features.jobs.application.list_dead_jobs import ListDeadJobs
from tessera.features.jobs.application.replay_dead_job import ReplayDeadJob
from tessera.main.ioc import make_container
from tessera.main.settings import Settings
from tessera.shared.adapters.redis_client import RedisClient


async def list_dead_jobs(settings: Settings, limit: int) -> list[str]:
    container = make_container(settings)
    try:
        async with container() as scope:
            dead = await (await scope.get(ListDeadJobs)).execute(limit=limit)
    finally:
        await container.close()
    return [msgspec.json.encode(job).decode() for job in dead]


async def replay_dead_job(settings: Settings, job_id: str) -> str:
    container = make_container(settings)
    try:
        async with container() as scope:
            job = await (await scope.get(ReplayDeadJob)).execute(job_id)
    finally:
        await container.close()
    return f"replayed {job.job_id} ({job.type})"


async def create_admin(settings: Settings, email: str, password: str, full_name: str) -> str:
    """The new admin's user id; raises the use case's `DomainError`s (taken email, weak
    password, invalid email or name)."""
    container = make_container(settings)
    try:
        async with container() as scope:
            command = NewAdmin(email=email, password=password, full_name=full_name)
            profile = await (await scope.get(CreateAdmin)).execute(command)
    finally:
        await container.close()
    return str(profile.user_id)


async def back_up_database(settings: Settings) -> BackupResult:
    """Today's backup, made now; raises `BackupsNeedPostgres` on SQLite before touching
    anything, `DumpFailed` when pg_dump fails (nothing is stored then)."""
    if settings.uses_sqlite:
        raise BackupsNeedPostgres()
    container = make_container(settings)
    try:
        async with container() as scope:
            return await (await scope.get(BackUpDatabase)).execute()
    finally:
        await container.close()


async def move_redis_sessions(settings: Settings) -> LayoutMove | None:
    """Sessions kept in Redis's layout before hash tags, moved to the tagged one; None in
    embedded mode (no Redis)."""
    if settings.is_embedded:
        return None
    container = make_container(settings)
    try:
        client = await container.get(RedisClient)
        if not isinstance(client, Redis):
            return None  # the untagged layout only ever ran on a single Redis (or Sentinel)
        return await move_to_tagged_layout(client, prefix=settings.redis_key_prefix)
    finally:
        await container.close()
