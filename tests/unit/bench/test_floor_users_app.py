"""The users_list floor answers the envelope Tessera's `GET /users` answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from bench.floor_users_app import envelope

from tessera.features.identity.application.accounts import Profile
from tessera.shared.http.envelope import Paginated


def _row(n: int) -> dict[str, object]:
    moment = datetime(2026, 12, 6, 13, n, tzinfo=UTC)
    return {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "email": f"user{n}@example.com",
        "password_hash": "$argon2id$...",
        "full_name": f"User {n}",
        "avatar_url": None,
        "is_verified": False,
        "is_active": True,
        "role": "tenant_admin",
        "deleted_at": None,
        "created_at": moment,
        "updated_at": moment,
    }


def test_a_page_decodes_as_tessera_s_paginated_profiles_with_no_field_more() -> None:
    rows = [_row(n) for n in range(20)]
    body = msgspec.json.encode(envelope(rows, 202, 1, 20))

    page = msgspec.json.decode(body, type=Paginated[Profile])
    raw = msgspec.json.decode(body)

    assert [profile.user_id for profile in page.data] == [row["id"] for row in rows]
    assert (page.pagination.total_pages, page.pagination.has_next) == (11, True)
    assert page.pagination.has_prev is False
    assert set(raw) == set(Paginated.__struct_fields__)
    assert set(raw["data"][0]) == set(Profile.__struct_fields__)
