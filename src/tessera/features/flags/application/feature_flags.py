"""`FeatureFlags`: is this flag on for this user? Answered in-process from a snapshot.

One instance per process (APP scope) keeps every flag in memory:

- a snapshot is used for at most `snapshot_seconds` (5 s), then reloaded from the database
  by one caller while the others wait for it (one query, not one per request);
- a change made through the admin use cases calls `changed()` after its commit: this process
  reloads on its next read, and a new random token is written to the shared `Cache` under
  `flags:version`;
- every process reads that token at most once per `version_check_seconds` (1 s) and reloads
  when it moved, so other processes see a change within about a second, and within the
  snapshot's lifetime even if the cache is down;
- when a reload fails because the database is down, the previous snapshot keeps serving
  (retried every `retry_seconds`); with no snapshot at all the error propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from tessera.features.flags.application.ports import FlagSource
from tessera.features.flags.domain.flag import FeatureFlag
from tessera.shared.application.event_loop import OneLoop
from tessera.shared.application.ports import Cache
from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput

logger = logging.getLogger("tessera.flags")

VERSION_KEY = "flags:version"


@dataclass(frozen=True, slots=True)
class FlagsCacheConfig:
    snapshot_seconds: float = 5.0  # longest a snapshot is used without reloading
    version_check_seconds: float = 1.0  # the shared version is read at most this often
    retry_seconds: float = 1.0  # a failed reload is retried after this (old snapshot meanwhile)
    version_ttl_seconds: float = 7 * 86400  # an expired token only causes one reload


@dataclass(frozen=True, slots=True)
class _Snapshot:
    flags: Mapping[str, FeatureFlag]
    version: bytes | None  # the shared token read just before the flags were loaded
    version_known: bool  # False when the cache could not be read then
    fresh_until: float  # on the monotonic clock
    generation: int  # local changes counted when it was loaded


class FeatureFlags:
    """Evaluates flags in-process (see the module docstring for the caching)."""

    def __init__(
        self,
        source: FlagSource,
        cache: Cache,
        *,
        config: FlagsCacheConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._cache = cache
        self._config = config or FlagsCacheConfig()
        self._now = monotonic
        self._snapshot: _Snapshot | None = None
        self._generation = 0
        self._next_version_check = 0.0
        self._lock = asyncio.Lock()
        self._loop = OneLoop("FeatureFlags")

    async def is_enabled(
        self, key: str, user_id: uuid.UUID | str, tenant_id: uuid.UUID | None = None
    ) -> bool:
        """Whether flag `key` is on for this user (and, for tenant allow lists, their tenant).
        An unknown key is off. `user_id` may be a UUID or its text."""
        subject = _as_uuid(user_id)
        flag = (await self._flags()).get(key)
        return flag is not None and flag.is_enabled_for(subject, tenant_id)

    async def evaluate_all(
        self, user_id: uuid.UUID | str, tenant_id: uuid.UUID | None = None
    ) -> dict[str, bool]:
        """Every flag's answer for this user, by key (sorted)."""
        subject = _as_uuid(user_id)
        flags = await self._flags()
        return {key: flags[key].is_enabled_for(subject, tenant_id) for key in sorted(flags)}

    async def changed(self) -> None:
        """Call after committing a change to any flag: this process reloads on its next read;
        the others when they next check the shared version (within `version_check_seconds`)
        or, if the cache is down, when their snapshot expires. Never raises for the cache."""
        self._generation += 1
        token = uuid.uuid4().hex.encode()
        try:
            await self._cache.set(VERSION_KEY, token, ttl_seconds=self._config.version_ttl_seconds)
        except DependencyUnavailable:
            logger.warning(
                "feature flag change not announced; other processes see it when "
                "their snapshot expires"
            )

    async def _flags(self) -> Mapping[str, FeatureFlag]:
        seen = self._snapshot
        if (
            seen is not None
            and self._usable(seen)
            and (self._now() < self._next_version_check or not await self._version_moved(seen))
        ):
            return seen.flags
        return (await self._reload(seen)).flags

    def _usable(self, snapshot: _Snapshot) -> bool:
        return snapshot.generation == self._generation and self._now() < snapshot.fresh_until

    async def _version_moved(self, snapshot: _Snapshot) -> bool:
        # Set before awaiting, so concurrent readers do not check too.
        self._next_version_check = self._now() + self._config.version_check_seconds
        try:
            version = await self._cache.get(VERSION_KEY)
        except DependencyUnavailable:
            return False  # the snapshot's lifetime bounds staleness while the cache is down
        return not snapshot.version_known or version != snapshot.version

    async def _reload(self, seen: _Snapshot | None) -> _Snapshot:
        self._loop.check()
        async with self._lock:
            current = self._snapshot
            if current is not seen and current is not None and self._usable(current):
                return current  # another caller reloaded while this one waited
            generation = self._generation
            version, known = await self._read_version()  # before the flags: never newer
            try:
                flags = await self._source.all_flags()
            except DependencyUnavailable:
                if current is None:
                    raise
                logger.warning("feature flags not reloaded; serving the previous snapshot")
                stale = replace(
                    current,
                    fresh_until=self._now() + self._config.retry_seconds,
                    generation=self._generation,
                )
                self._snapshot = stale
                return stale
            snapshot = _Snapshot(
                flags={flag.key: flag for flag in flags},
                version=version,
                version_known=known,
                fresh_until=self._now() + self._config.snapshot_seconds,
                generation=generation,
            )
            # A local change while loading leaves it with an old generation: never used again.
            self._snapshot = snapshot
            self._next_version_check = self._now() + self._config.version_check_seconds
            return snapshot

    async def _read_version(self) -> tuple[bytes | None, bool]:
        try:
            return await self._cache.get(VERSION_KEY), True
        except DependencyUnavailable:
            return None, False


def _as_uuid(user_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(user_id, uuid.UUID):
        return user_id
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise InvalidInput("user_id must be a UUID.", field="user_id") from None
