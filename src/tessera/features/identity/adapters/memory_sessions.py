"""The embedded mode's `SessionStore`: sessions in a dict, correct for one process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tessera.features.identity.application.accounts import profile_key
from tessera.features.identity.application.ports import Touched
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    Rotation,
    RotationOutcome,
    SessionRecord,
    device_fingerprint,
)
from tessera.shared.application.ports import Cache, Counter
from tessera.shared.application.rate_limits import RateLimitGroup, RoleLimits
from tessera.shared.domain.caller import Principal, Role

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_SWEEP_EVERY = 1024


@dataclass(slots=True)
class _Entry:
    record: SessionRecord
    token: str  # hash of the current refresh token
    previous_token: str  # hash of the one it replaced; "" before the first rotation
    ends_ms: int  # min(last use + idle time, absolute expiry), epoch milliseconds


class InMemorySessionStore:
    """Complete `SessionStore` for one process, with the semantics of `RedisSessionStore`.

    No await happens inside an operation, so each is atomic on the event loop. Times are kept
    to the millisecond, as in Redis. A session ends when the `now` of a call reaches its idle
    or absolute end. `create`, `revoke`, `revoke_all` and `set_role` are given no `now`: they
    judge by `clock_ms` (epoch milliseconds) when one is given, else by the latest time this
    store has seen (a `now` argument or a new session's last use), which never goes back.
    Ended sessions are dropped when met and swept every 1024 creations. Each user's known
    devices map their fingerprint to the epoch millisecond of their latest sign-in, trimmed
    as Redis trims its sorted set; the sweep also drops those the latest `DeviceMemory`
    would have let expire. A counting touch counts in a fixed window of its own per user and
    group, judged by the touch's `now`; ended windows are swept with the sessions. A touch
    reads the caller's cached profile from `cache` (the embedded mode's in-memory one).
    """

    def __init__(
        self, clock_ms: Callable[[], float] | None = None, *, cache: Cache | None = None
    ) -> None:
        self._clock_ms = clock_ms
        self._cache = cache
        self._latest_ms = 0
        self._sessions: dict[uuid.UUID, dict[uuid.UUID, _Entry]] = {}
        self._known: dict[uuid.UUID, dict[str, int]] = {}
        self._counters: dict[str, tuple[int, int]] = {}  # key: (count, window's end ms)
        self._memory_ms = 0
        self._creations = 0

    async def create(
        self,
        session: SessionRecord,
        *,
        refresh_hash: str,
        idle_seconds: int,
        max_sessions: int,
        devices: DeviceMemory,
    ) -> Sequence[uuid.UUID]:
        record = _to_the_ms(session)
        seen, expires = _ms(record.last_seen_at), _ms(record.expires_at)
        self._observe(seen)
        ttl = min(idle_seconds * 1000, expires - seen)
        if ttl <= 0:
            return []  # it ended before it began: nothing to keep
        self._drop(record.user_id, record.session_id)
        entry = _Entry(record, token=refresh_hash, previous_token="", ends_ms=seen + ttl)
        self._sessions.setdefault(record.user_id, {})[record.session_id] = entry
        self._remember(record, seen, devices)
        self._creations += 1
        if self._creations % _SWEEP_EVERY == 0:
            self._sweep()
        return self._cap(record, max_sessions)

    async def knows_device(
        self,
        user_id: uuid.UUID,
        *,
        ip_address: str | None,
        user_agent: str | None,
        since: datetime,
    ) -> bool:
        seen = self._known.get(user_id, {}).get(device_fingerprint(ip_address, user_agent))
        return seen is not None and seen >= _ms(since)

    async def touch(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        now: datetime,
        idle_seconds: int,
        count_in: RoleLimits | None = None,
    ) -> Touched | None:
        now_ms = self._observe(_ms(now))
        entry = self._live(user_id, session_id, now_ms)
        if entry is None:
            return None
        self._use(entry, now_ms, idle_seconds)
        record = entry.record
        caller = Principal(
            record.user_id,
            record.tenant_id,
            record.role,
            record.session_id,
            record.needs_mfa_enrolment,
        )
        counted = None
        if count_in is not None:
            group = count_in.group_for(record.role)
            counted = self._count(group.key(str(user_id)), group, now_ms)
        cache = self._cache
        profile = None if cache is None else await cache.get(profile_key(user_id))
        return Touched(caller, counted, profile)

    async def rotate(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        presented_hash: str,
        new_hash: str,
        now: datetime,
        grace_seconds: int,
        idle_seconds: int,
    ) -> Rotation:
        now_ms = self._observe(_ms(now))
        entry = self._live(user_id, session_id, now_ms)
        if entry is None:
            return Rotation(outcome=RotationOutcome.MISSING, session=None)
        if presented_hash and presented_hash == entry.token:
            entry.previous_token, entry.token = entry.token, new_hash
            entry.record = replace(
                entry.record, generation=entry.record.generation + 1, rotated_at=_datetime(now_ms)
            )
            outcome = RotationOutcome.ROTATED
        elif (
            presented_hash
            and presented_hash == entry.previous_token
            and now_ms - _ms(entry.record.rotated_at) <= grace_seconds * 1000
        ):
            outcome = RotationOutcome.GRACE
        else:
            self._drop(user_id, session_id)
            self._known.pop(user_id, None)
            return Rotation(outcome=RotationOutcome.REUSED, session=None)
        self._use(entry, now_ms, idle_seconds)
        return Rotation(outcome=outcome, session=entry.record)

    async def list(self, user_id: uuid.UUID, *, now: datetime) -> Sequence[SessionRecord]:
        live = self._purge(user_id, self._observe(_ms(now)))
        sessions = [entry.record for entry in live.values()]
        return sorted(sessions, key=lambda s: (s.created_at, s.session_id), reverse=True)

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        if self._live(user_id, session_id, self._now_ms()) is None:
            return False
        self._drop(user_id, session_id)
        return True

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
        live = self._purge(user_id, self._now_ms())
        ended = [sid for sid in live if sid != keep]
        for session_id in ended:
            self._drop(user_id, session_id)
        known = self._known.pop(user_id, {})
        if keep in live:
            device = _device_of(live[keep].record)
            if device in known:
                self._known[user_id] = {device: known[device]}
        return len(ended)

    async def set_role(self, user_id: uuid.UUID, role: Role) -> None:
        for entry in self._purge(user_id, self._now_ms()).values():
            entry.record = replace(entry.record, role=role)

    async def mark_mfa(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        entry = self._live(user_id, session_id, self._now_ms())
        if entry is None:
            return False
        entry.record = replace(entry.record, mfa=True, needs_mfa_enrolment=False)
        return True

    def _cap(self, created: SessionRecord, max_sessions: int) -> Sequence[uuid.UUID]:
        """End the oldest of the user's other live sessions past `max_sessions`."""
        user_id = created.user_id
        if len(self._sessions.get(user_id, {})) <= max_sessions:
            return []
        others = [
            entry.record
            for session_id, entry in self._purge(user_id, self._now_ms()).items()
            if session_id != created.session_id
        ]
        others.sort(key=lambda record: (record.created_at, str(record.session_id)))
        ended = [record.session_id for record in others[: len(others) + 1 - max_sessions]]
        for session_id in ended:
            self._drop(user_id, session_id)
        return ended

    def _count(self, key: str, group: RateLimitGroup, now_ms: int) -> Counter:
        """One more request in the group's current window (a new one once it has ended)."""
        count, ends_ms = self._counters.get(key, (0, 0))
        if now_ms >= ends_ms:
            count, ends_ms = 0, now_ms + group.window_seconds * 1000
        self._counters[key] = (count + 1, ends_ms)
        return Counter(value=count + 1, resets_in=(ends_ms - now_ms) / 1000)

    def _remember(self, record: SessionRecord, seen_ms: int, memory: DeviceMemory) -> None:
        """What the Redis create script does to the sorted set: raise the device's score,
        drop scores older than the memory, then the lowest ranks past `memory.most`."""
        self._memory_ms = memory.seconds * 1000
        known = self._known.setdefault(record.user_id, {})
        device = _device_of(record)
        known[device] = max(known.get(device, seen_ms), seen_ms)
        oldest = seen_ms - self._memory_ms
        ranked = sorted((ms, name) for name, ms in known.items() if ms >= oldest)
        kept = ranked[max(0, len(ranked) - memory.most) :]
        self._known[record.user_id] = {name: ms for ms, name in kept}

    def _use(self, entry: _Entry, now_ms: int, idle_seconds: int) -> None:
        """Counts as use: the idle end moves to now + idle time, capped by the absolute end."""
        entry.record = replace(entry.record, last_seen_at=_datetime(now_ms))
        entry.ends_ms = min(now_ms + idle_seconds * 1000, _ms(entry.record.expires_at))

    def _live(self, user_id: uuid.UUID, session_id: uuid.UUID, now_ms: int) -> _Entry | None:
        entry = self._sessions.get(user_id, {}).get(session_id)
        if entry is not None and now_ms >= entry.ends_ms:
            self._drop(user_id, session_id)
            return None
        return entry

    def _purge(self, user_id: uuid.UUID, now_ms: int) -> dict[uuid.UUID, _Entry]:
        """The user's live sessions, after dropping those that ended."""
        for session_id in list(self._sessions.get(user_id, {})):
            self._live(user_id, session_id, now_ms)
        return dict(self._sessions.get(user_id, {}))

    def _drop(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        sessions = self._sessions.get(user_id, {})
        sessions.pop(session_id, None)
        if not sessions:
            self._sessions.pop(user_id, None)

    def _sweep(self) -> None:
        now_ms = self._now_ms()
        for user_id in list(self._sessions):
            self._purge(user_id, now_ms)
        for user_id, known in list(self._known.items()):
            if (
                max(known.values(), default=0) < now_ms - self._memory_ms
            ):  # Redis would expire the key
                del self._known[user_id]
        for key, (_, ends_ms) in list(self._counters.items()):
            if ends_ms <= now_ms:
                del self._counters[key]

    def _observe(self, ms: int) -> int:
        self._latest_ms = max(self._latest_ms, ms)
        return ms

    def _now_ms(self) -> int:
        return int(self._clock_ms()) if self._clock_ms is not None else self._latest_ms


def _device_of(record: SessionRecord) -> str:
    return device_fingerprint(record.ip_address, record.user_agent)


def _to_the_ms(session: SessionRecord) -> SessionRecord:
    """The record as Redis gives it back: times truncated to the millisecond, no empty text."""
    return replace(
        session,
        ip_address=session.ip_address or None,
        user_agent=session.user_agent or None,
        created_at=_datetime(_ms(session.created_at)),
        last_seen_at=_datetime(_ms(session.last_seen_at)),
        expires_at=_datetime(_ms(session.expires_at)),
        rotated_at=_datetime(_ms(session.rotated_at)),
    )


def _ms(moment: datetime) -> int:
    """Epoch milliseconds, exactly (floor); `moment` must be timezone-aware."""
    return (moment - _EPOCH) // _MS


def _datetime(ms: int) -> datetime:
    return _EPOCH + ms * _MS
