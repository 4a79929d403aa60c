"""Moves the sessions a single Redis keeps in the layout before hash tags to the tagged one.

Versions before kept a user's keys as `session:user:<user_id>:<session_id>`,
`session:index:<user_id>` and `session:known-devices:<user_id>`; the store now reads only
the tagged names (`SessionKeys`), so sessions left under the old ones would all end.
`tessera migrate upgrade` moves them: SCAN finds the users with an old index or device set,
then one script per user renames each listed session hash (its time to live goes with
it), adds its id to the new index, merges the devices (the latest sign-in of each wins) and
deletes the old keys. Each user moves atomically, so it is safe beside running servers of
either version and safe to run again: a second run finds nothing.

The old layout only ever ran on a single Redis, and the script touches keys of both
layouts, which a Redis Cluster would refuse (it never has old keys to move).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from tessera.features.identity.adapters.redis_sessions import SessionKeys

SCAN_COUNT = 1000
"""Keys Redis looks at per SCAN step; the users found in one step move in one pipeline."""

# KEYS: old index, old known devices, new index, new known devices. ARGV: old hash key
# prefix, new hash key prefix. {sessions moved, 1 if devices were moved else 0}.
_MOVE = """
local moved = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local old, new = ARGV[1] .. sid, ARGV[2] .. sid
  if redis.call('EXISTS', old) == 1 then
    redis.call('RENAME', old, new)
    redis.call('SADD', KEYS[3], sid)
    moved = moved + 1
  end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > redis.call('PTTL', KEYS[3]) then redis.call('PEXPIRE', KEYS[3], ttl) end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return {moved, 0} end
ttl = math.max(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[4]))
redis.call('ZUNIONSTORE', KEYS[4], 2, KEYS[2], KEYS[4], 'AGGREGATE', 'MAX')
if ttl > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
redis.call('DEL', KEYS[2])
return {moved, 1}
"""

_OLD_KEY = re.compile(r"session:(?:index|known-devices):([0-9a-f-]{36})")
# Old indexes and device sets only: `[ik]` skips the session hashes (`user:`) and `[^{]`
# the tagged keys.
_OLD_PATTERN = "session:[ik]*:[^{]*"


@dataclass(frozen=True, slots=True)
class LayoutMove:
    sessions: int
    users: int

    def line(self) -> str:
        if not self.users:
            return "Redis sessions: all in the hash-tagged key layout"
        sessions, users = _many(self.sessions, "session"), _many(self.users, "user")
        return f"Redis sessions: moved {sessions} of {users} to the hash-tagged key layout"


async def move_to_tagged_layout(client: Redis, *, prefix: str = "") -> LayoutMove:
    """Move every old-layout session under `prefix`; see the module's docstring."""
    move = client.register_script(_MOVE)
    new, match = SessionKeys(prefix), _glob_escape(prefix) + _OLD_PATTERN
    seen: set[uuid.UUID] = set()
    sessions = users = 0
    cursor = 0
    while True:
        cursor, found = await client.scan(cursor, match=match, count=SCAN_COUNT)
        fresh = {user for key in found if (user := _old_owner(key, prefix))} - seen
        seen |= fresh
        if fresh:
            pipe = client.pipeline(transaction=False)
            for user in fresh:
                keys = [f"{prefix}session:index:{user}", f"{prefix}session:known-devices:{user}"]
                keys += [new.index(user), new.known(user)]
                args = [f"{prefix}session:user:{user}:", new.base(user)]
                await move(keys=keys, args=args, client=pipe)
            for moved, devices in cast(list[list[int]], await pipe.execute()):
                sessions += moved
                users += bool(moved or devices)
        if cursor == 0:
            return LayoutMove(sessions=sessions, users=users)


def _old_owner(key: bytes | str, prefix: str) -> uuid.UUID | None:
    """The user of an old-layout index or device set; None for any other key."""
    name = key.decode() if isinstance(key, bytes) else key
    match = _OLD_KEY.fullmatch(name.removeprefix(prefix))
    return uuid.UUID(match[1]) if match else None


def _many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _glob_escape(text: str) -> str:
    """`text` matched literally by a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
