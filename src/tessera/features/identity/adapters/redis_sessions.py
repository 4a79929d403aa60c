"""`SessionStore` on Redis: one hash per session; one index set and one device set per user.

`session:user:{<user_id>}:<session_id>` holds the session (times as epoch milliseconds, the
refresh token only as its hash) and lives for min(idle time, time left to the absolute
expiry), pushed back on every use. `session:index:{<user_id>}` lists the user's session ids
for the cap, `list`, `revoke_all` and `set_role`; members whose hash has expired are dropped
when met. `session:known-devices:{<user_id>}` is a sorted set of the user's device
fingerprints (`device_fingerprint`), each scored by the epoch millisecond of its latest
sign-in: `create` adds or raises one and trims the set (too old by score, then the lowest
ranks past the most kept), so it never outgrows `DeviceMemory.most`, and the key expires
`DeviceMemory.seconds` after the latest sign-in; `knows_device` is one `ZSCORE`. Sessions that
end leave it alone. Before it, deployments kept `session:devices:<user_id>` hashes (the
devices of live sessions only); nothing reads them any more and each expires within a session
idle time. A counting `touch` also counts the request in `ratelimit:<group>:{<user_id>}`
(the group of the session's role; a fixed window, as `RedisCache.increment` keeps one), in
the same script.

Every operation is one Lua script (or one command), so it is atomic across processes. A
Redis Cluster runs a script only on keys of one hash slot: every key of a user carries the
user's id as its hash tag (`{...}`, `SessionKeys`), so the keys a script is given and the
session hashes it names from the index (`ARGV` prefix .. session id) all share the user's
slot. Keys without the tag are the layout before it, which `redis_session_layout` moves.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tessera.features.identity.application.accounts import profile_key
from tessera.features.identity.application.ports import Touched
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    Rotation,
    RotationOutcome,
    SessionRecord,
    device_fingerprint,
)
from tessera.shared.adapters.redis_batching import CommandBatcher, Script
from tessera.shared.adapters.redis_cache import translate_redis_errors
from tessera.shared.application.ports import Counter
from tessera.shared.application.rate_limits import RoleLimits
from tessera.shared.domain.caller import Principal, Role

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOUCH_KEYS_CACHED = 4096
"""Sessions whose touch keys and arguments are kept ready, most recently used first."""
_MS = timedelta(milliseconds=1)
_Args = list[str | int]

# Helpers the scripts start with. keep_indexed keeps the index at least as long-lived as
# the hash just given `ttl` and lists the session.
_HELPERS = """
local function keep_indexed(index, sid, ttl)
  redis.call('SADD', index, sid)
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
local function forget(key, index, sid)
  redis.call('DEL', key)
  redis.call('SREM', index, sid)
end
"""

# KEYS: hash, index, known devices. ARGV: session id, hash ttl, index ttl, hash key prefix,
# now, most sessions, device, device memory ms, most devices, field, value, ... The ids of
# the sessions the cap ended.
_CREATE = (
    _HELPERS
    + """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
keep_indexed(KEYS[2], ARGV[1], tonumber(ARGV[3]))
local now, most = tonumber(ARGV[5]), tonumber(ARGV[6])
local memory, devices = tonumber(ARGV[8]), tonumber(ARGV[9])
local seen = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[7]))
if not seen or seen < now then redis.call('ZADD', KEYS[3], now, ARGV[7]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%.0f', now - memory))
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -devices - 1)
if redis.call('PTTL', KEYS[3]) < memory then redis.call('PEXPIRE', KEYS[3], memory) end
if redis.call('SCARD', KEYS[2]) <= most then return {} end
local others = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if sid ~= ARGV[1] then
    local created = redis.call('HGET', ARGV[4] .. sid, 'created_at')
    if created then
      table.insert(others, {tonumber(created), sid})
    else
      redis.call('SREM', KEYS[2], sid)
    end
  end
end
table.sort(others, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local ended = {}
for i = 1, #others + 1 - most do
  forget(ARGV[4] .. others[i][2], KEYS[2], others[i][2])
  table.insert(ended, others[i][2])
end
return ended
"""
)

# KEYS: hash, index, the user's cached profile, then (when counting) the user's rate-limit
# counter of each role's group, in `Role` order. ARGV: session id, now, idle, then each
# counter's window (ms). {user_id, tenant_id, role, 1 if it needs MFA enrolment else 0,
# cached profile or false} and, when counting, the count and the milliseconds left in its
# window for the role's counter; nil when the session ended (nothing is counted then).
# Sessions made before the `enrol` field read as 0. The index is left alone: `create` gave
# it at least the session's absolute expiry, which the sliding idle expiry never passes, so
# it outlives the hash anyway; one HMGET reads the expiry with the caller. Every request
# runs this script, and Redis shares the API's cores: 6 commands instead of 10 cut its time
# from about 14 to 12 µs a call, and leaving out `_HELPERS` (two functions defined on every
# call; `forget` is written out) about 1 µs more.
_TOUCH = (
    "local ROLE_AT = {"
    + ", ".join(f"['{role.value}'] = {at}" for at, role in enumerate(Role, start=1))
    + """}
local now = tonumber(ARGV[2])
local caller = redis.call('HMGET', KEYS[1], 'user_id', 'tenant_id', 'role', 'enrol', 'expires_at')
local expires = tonumber(caller[5])
local ttl = expires and math.min(tonumber(ARGV[3]), expires - now)
if not ttl or ttl <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return false
end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
caller[4] = caller[4] == '1' and 1 or 0
caller[5] = redis.call('GET', KEYS[3])
local at = ROLE_AT[caller[3]]
if #KEYS > 3 and at then
  local counter = KEYS[3 + at]
  local count = redis.call('INCR', counter)
  if count == 1 then redis.call('PEXPIRE', counter, ARGV[3 + at]) end
  caller[6], caller[7] = count, redis.call('PTTL', counter)
end
return caller
"""
)

# KEYS: hash, index, known devices. ARGV: session id, presented, new, now, grace, idle.
_ROTATE = (
    _HELPERS
    + """
local s = redis.call('HMGET', KEYS[1], 'expires_at', 'token', 'previous_token', 'rotated_at')
local now = tonumber(ARGV[4])
local expires = tonumber(s[1])
local ttl = expires and math.min(tonumber(ARGV[6]), expires - now)
if not ttl or ttl <= 0 then
  forget(KEYS[1], KEYS[2], ARGV[1])
  return {'missing'}
end
local outcome
if ARGV[2] ~= '' and ARGV[2] == s[2] then
  outcome = 'rotated'
  redis.call('HSET', KEYS[1], 'previous_token', s[2], 'token', ARGV[3], 'rotated_at', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'generation', 1)
elseif ARGV[2] ~= '' and ARGV[2] == s[3] and now - tonumber(s[4]) <= tonumber(ARGV[5]) then
  outcome = 'grace'
else
  forget(KEYS[1], KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return {'reused'}
end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
keep_indexed(KEYS[2], ARGV[1], ttl)
return {outcome, redis.call('HGETALL', KEYS[1])}
"""
)

# KEYS: index. ARGV: hash key prefix, now. {session id, fields} of each live session.
_LIST = """
local found = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. sid
  local expires = tonumber(redis.call('HGET', key, 'expires_at'))
  if expires and expires > tonumber(ARGV[2]) then
    table.insert(found, {sid, redis.call('HGETALL', key)})
  else
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], sid)
  end
end
return found
"""

# KEYS: hash, index. ARGV: session id. 1 if it ended, else 0.
_REVOKE = """
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""

# KEYS: index, known devices. ARGV: hash key prefix, session id to keep ('' for none). How
# many ended. The kept session's device keeps its score (and the set its time to live);
# the fingerprint is `device_fingerprint`'s, made here from the session's fields.
_REVOKE_ALL = """
local ended = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if sid ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. sid)
    redis.call('SREM', KEYS[1], sid)
  end
end
local device, seen, ttl
if ARGV[2] ~= '' then
  local kept = redis.call('HMGET', ARGV[1] .. ARGV[2], 'ip_address', 'user_agent')
  if kept[1] then
    device = redis.sha1hex(kept[1] .. '\\n' .. kept[2])
    seen = redis.call('ZSCORE', KEYS[2], device)
    ttl = redis.call('PTTL', KEYS[2])
  end
end
redis.call('DEL', KEYS[2])
if seen and ttl > 0 then
  redis.call('ZADD', KEYS[2], seen, device)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return ended
"""

# KEYS: hash. 1 if the live session is now marked as MFA (and needing no enrolment), else 0.
_MARK_MFA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'mfa', 1, 'enrol', 0)
return 1
"""

# KEYS: index. ARGV: hash key prefix, role.
_SET_ROLE = """
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. sid
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'role', ARGV[2])
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return 0
"""


class SessionKeys:
    """The names of a user's keys. Each carries `{<user_id>}`, the user's hash tag, so
    they and every session hash named from `base` are in one Redis Cluster hash slot; the
    prefix (REDIS_KEY_PREFIX, which holds no brace) comes first, outside the tag."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def base(self, user_id: uuid.UUID) -> str:
        """A session hash's name without the session id."""
        return f"{self.prefix}session:user:{{{user_id}}}:"

    def index(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}session:index:{{{user_id}}}"

    def known(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}session:known-devices:{{{user_id}}}"


class RedisSessionStore:
    """Complete `SessionStore` shared by every process; Redis errors raise
    `DependencyUnavailable`. Scripts go through the `CommandBatcher`, so concurrent
    requests share pipelines."""

    def __init__(self, batcher: CommandBatcher, *, prefix: str = "") -> None:
        self._redis = batcher
        self._names = SessionKeys(prefix)
        self._create = Script(_CREATE)
        self._touch = Script(_TOUCH)
        self._rotate = Script(_ROTATE)
        self._list = Script(_LIST)
        self._revoke = Script(_REVOKE)
        self._revoke_all = Script(_REVOKE_ALL)
        self._set_role = Script(_SET_ROLE)
        self._mark_mfa = Script(_MARK_MFA)
        # A client sends its session's token with every request: the touch's key strings
        # are made once per session (and limits) rather than from the ids each time.
        self._touch_parts = functools.lru_cache(maxsize=TOUCH_KEYS_CACHED)(
            self._touch_keys_and_args
        )

    async def create(
        self,
        session: SessionRecord,
        *,
        refresh_hash: str,
        idle_seconds: int,
        max_sessions: int,
        devices: DeviceMemory,
    ) -> Sequence[uuid.UUID]:
        seen, expires = _ms(session.last_seen_at), _ms(session.expires_at)
        ttl = min(idle_seconds * 1000, expires - seen)
        if ttl <= 0:
            return []  # it ended before it began: nothing to keep
        fields = _fields(session, refresh_hash)
        user_id = session.user_id
        device = device_fingerprint(session.ip_address, session.user_agent)
        args: _Args = [
            str(session.session_id),
            ttl,
            expires - seen,
            self._names.base(user_id),
            seen,
        ]
        args += [max_sessions, device, devices.seconds * 1000, devices.most]
        args += [item for pair in fields.items() for item in pair]
        keys = [*self._keys(user_id, session.session_id), self._names.known(user_id)]
        async with translate_redis_errors():
            ended = await self._redis.run(self._create, keys=keys, args=args)
        return [uuid.UUID(_text(session_id)) for session_id in ended]

    async def knows_device(
        self,
        user_id: uuid.UUID,
        *,
        ip_address: str | None,
        user_agent: str | None,
        since: datetime,
    ) -> bool:
        device = device_fingerprint(ip_address, user_agent)
        async with translate_redis_errors():
            seen = await self._redis.execute("ZSCORE", self._names.known(user_id), device)
        return seen is not None and float(seen) >= _ms(since)

    async def touch(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        now: datetime,
        idle_seconds: int,
        count_in: RoleLimits | None = None,
    ) -> Touched | None:
        keys, args = self._touch_parts(user_id, session_id, count_in)
        async with translate_redis_errors():
            reply = await self._redis.run(
                self._touch, keys=keys, args=(args[0], _ms(now), idle_seconds * 1000, *args[1:])
            )
        if reply is None:
            return None
        owner, tenant, role, enrol, profile, *counted = cast(list[Any], reply)
        caller = Principal(_uuid(owner), _uuid(tenant), _role(role), session_id, enrol == 1)
        if not counted:
            return Touched(caller, profile=profile)
        count, left_ms = map(int, counted)
        return Touched(caller, Counter(count, max(left_ms, 0) / 1000), profile)

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
        args: _Args = [
            str(session_id),
            presented_hash,
            new_hash,
            _ms(now),
            grace_seconds * 1000,
            idle_seconds * 1000,
        ]
        keys = [*self._keys(user_id, session_id), self._names.known(user_id)]
        async with translate_redis_errors():
            reply = await self._redis.run(self._rotate, keys=keys, args=args)
        outcome = RotationOutcome(_text(reply[0]))
        session = _record(session_id, reply[1]) if len(reply) > 1 else None
        return Rotation(outcome=outcome, session=session)

    async def list(self, user_id: uuid.UUID, *, now: datetime) -> Sequence[SessionRecord]:
        async with translate_redis_errors():
            reply = await self._redis.run(
                self._list,
                keys=[self._names.index(user_id)],
                args=[self._names.base(user_id), _ms(now)],
            )
        sessions = [_record(uuid.UUID(_text(sid)), fields) for sid, fields in reply]
        return sorted(sessions, key=lambda s: (s.created_at, s.session_id), reverse=True)

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        async with translate_redis_errors():
            ended = await self._redis.run(
                self._revoke, keys=self._keys(user_id, session_id), args=[str(session_id)]
            )
        return bool(ended)

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
        args: _Args = [self._names.base(user_id), "" if keep is None else str(keep)]
        keys = [self._names.index(user_id), self._names.known(user_id)]
        async with translate_redis_errors():
            return int(await self._redis.run(self._revoke_all, keys=keys, args=args))

    async def set_role(self, user_id: uuid.UUID, role: Role) -> None:
        args = [self._names.base(user_id), role.value]
        async with translate_redis_errors():
            await self._redis.run(self._set_role, keys=[self._names.index(user_id)], args=args)

    async def mark_mfa(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        key = self._keys(user_id, session_id)[0]
        async with translate_redis_errors():
            return bool(await self._redis.run(self._mark_mfa, keys=[key], args=[]))

    def _keys(self, user_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, str]:
        """The session's hash and the user's index."""
        return f"{self._names.base(user_id)}{session_id}", self._names.index(user_id)

    def _touch_keys_and_args(
        self, user_id: uuid.UUID, session_id: uuid.UUID, count_in: RoleLimits | None
    ) -> tuple[tuple[str, ...], tuple[str | int, ...]]:
        """The touch's keys, and its arguments but `now` and the idle time."""
        keys = (*self._keys(user_id, session_id), self._names.prefix + profile_key(user_id))
        args: tuple[str | int, ...] = (str(session_id),)
        if count_in is None:
            return keys, args
        groups = [count_in.group_for(role) for role in Role]
        counters = [self._names.prefix + g.key(f"{{{user_id}}}") for g in groups]
        return (*keys, *counters), (*args, *(g.window_seconds * 1000 for g in groups))


@functools.lru_cache(maxsize=TOUCH_KEYS_CACHED)
def _uuid(raw: bytes) -> uuid.UUID:
    """An id as the session stores it (the same few come back on every touch)."""
    return uuid.UUID(raw.decode())


_ROLES = {role.value.encode(): role for role in Role}


def _role(raw: bytes) -> Role:
    try:
        return _ROLES[raw]
    except KeyError:
        raise ValueError(f"not a role: {raw!r}") from None


def _fields(session: SessionRecord, refresh_hash: str) -> dict[str, str | int]:
    return {
        "user_id": str(session.user_id),
        "tenant_id": str(session.tenant_id),
        "role": session.role.value,
        "token": refresh_hash,
        "previous_token": "",
        "generation": session.generation,
        "rotated_at": _ms(session.rotated_at),
        "created_at": _ms(session.created_at),
        "last_seen_at": _ms(session.last_seen_at),
        "expires_at": _ms(session.expires_at),
        "ip_address": session.ip_address or "",
        "user_agent": session.user_agent or "",
        "mfa": int(session.mfa),
        "enrol": int(session.needs_mfa_enrolment),
    }


def _record(session_id: uuid.UUID, flat: Any) -> SessionRecord:
    items = cast(list[bytes | str], flat)
    f = {_text(k): _text(v) for k, v in zip(items[::2], items[1::2], strict=True)}
    return SessionRecord(
        session_id=session_id,
        user_id=uuid.UUID(f["user_id"]),
        tenant_id=uuid.UUID(f["tenant_id"]),
        role=Role(f["role"]),
        created_at=_datetime(f["created_at"]),
        last_seen_at=_datetime(f["last_seen_at"]),
        expires_at=_datetime(f["expires_at"]),
        ip_address=f["ip_address"] or None,
        user_agent=f["user_agent"] or None,
        generation=int(f["generation"]),
        rotated_at=_datetime(f["rotated_at"]),
        mfa=f.get("mfa") == "1",
        needs_mfa_enrolment=f.get("enrol") == "1",
    )


def _ms(moment: datetime) -> int:
    """Epoch milliseconds, exactly (floor); `moment` must be timezone-aware."""
    return (moment - _EPOCH) // _MS


def _datetime(ms: str) -> datetime:
    return _EPOCH + int(ms) * _MS


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
