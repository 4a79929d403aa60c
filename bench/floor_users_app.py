"""The users_list floor: a bare Litestar app whose one handler runs the two statements Tessera
sent for `GET /api/v1/users?page=P&limit=L` as an admin (it now reads both in one, the count
as a window), through a plain asyncpg pool, and answers the same envelope. No
authentication, tenant scope, transaction, unit of work, rate limit or middleware: only the
database work and the JSON.

The statements are Tessera's as PostgreSQL logs them (`log_statement = 'all'`), without the
transaction around them and its `set_config` of the tenant scope: those are part of what the
floor leaves out. Settings: `FLOOR_DATABASE_URL` (a libpq URL) and `FLOOR_POOL_SIZE`.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar import Litestar, get
from litestar.params import FromQuery

COUNT = "SELECT count(*) AS count_1 \nFROM users \nWHERE users.deleted_at IS NULL"
PAGE = (
    "SELECT users.id, users.tenant_id, users.email, users.password_hash, users.full_name, "
    "users.avatar_url, users.is_verified, users.is_active, users.role, users.deleted_at, "
    "users.created_at, users.updated_at \nFROM users \nWHERE users.deleted_at IS NULL "
    "ORDER BY users.created_at DESC, users.id DESC \n LIMIT $1::INTEGER OFFSET $2::INTEGER"
)
_POOL: dict[str, Any] = {}


async def _open() -> None:
    size = int(os.environ.get("FLOOR_POOL_SIZE", "20"))
    dsn = os.environ["FLOOR_DATABASE_URL"]
    _POOL["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=size)


async def _close() -> None:
    await _POOL.pop("pool").close()


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@get("/users")
async def users(page: FromQuery[int] = 1, limit: FromQuery[int] = 20) -> dict[str, Any]:
    async with _POOL["pool"].acquire() as connection:
        total = int(await connection.fetchval(COUNT))
        rows = await connection.fetch(PAGE, limit, (page - 1) * limit)
    return envelope(rows, total, page, limit)


def envelope(
    rows: Sequence[Mapping[str, Any]], total: int, page: int, limit: int
) -> dict[str, Any]:
    """Tessera's `Paginated[Profile]` answer, built from the page's rows."""
    pages = math.ceil(total / limit)
    return {
        "status": "success",
        "data": [_profile(row) for row in rows],
        "pagination": {
            "page": page,
            "limit": limit,
            "total_items": total,
            "total_pages": pages,
            "has_next": page < pages,
            "has_prev": page > 1,
        },
        "meta": {
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "request_id": f"req-{secrets.token_hex(16)}",
        },
    }


def _profile(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": row["id"],
        "email": row["email"],
        "full_name": row["full_name"],
        "avatar_url": row["avatar_url"],
        "is_verified": row["is_verified"],
        "is_active": row["is_active"],
        "role": row["role"],
        "tenant_id": row["tenant_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


app = Litestar(route_handlers=[health, users], on_startup=[_open], on_shutdown=[_close])
