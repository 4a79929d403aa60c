"""The floor with one Redis round trip counts its caller and answers the envelope Tessera's
`GET /users/me` answers, with the profile Tessera cached."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from bench import floor_session_app
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from tessera.features.identity.application.accounts import Profile, profile_key
from tessera.shared.http.envelope import Success
from tests.services import TEST_REDIS_URL


def _token(claims: dict[str, str]) -> str:
    payload = base64.urlsafe_b64encode(msgspec.json.encode(claims)).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.not-checked"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def http(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    monkeypatch.setenv("FLOOR_REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("FLOOR_REDIS_KEY_PREFIX", redis_prefix)
    async with AsyncTestClient(app=floor_session_app.app) as client:
        yield client


async def test_it_counts_the_caller_and_answers_the_cached_profile(
    http: AsyncTestClient[Litestar], redis: Redis, redis_prefix: str
) -> None:
    user_id = uuid.uuid4()
    profile = msgspec.convert(
        {
            "user_id": str(user_id),
            "email": "ann@example.com",
            "full_name": "Ann",
            "avatar_url": None,
            "is_verified": True,
            "is_active": True,
            "role": "user",
            "tenant_id": str(uuid.uuid4()),
            "created_at": "2026-12-07T02:00:00Z",
            "updated_at": "2026-12-07T02:00:00Z",
        },
        Profile,
    )
    await redis.set(redis_prefix + profile_key(user_id), msgspec.json.encode(profile))
    headers = {"Authorization": f"Bearer {_token({'sub': str(user_id)})}"}

    first = await http.get("/me", headers=headers)
    second = await http.get("/me", headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert msgspec.json.decode(second.content, type=Success[Profile]).data == profile
    counter = f"{redis_prefix}ratelimit:api:{{{user_id}}}"
    assert await redis.get(counter) == b"2"
    assert 0 < await redis.pttl(counter) <= floor_session_app.WINDOW_MS


async def test_a_request_without_a_bearer_jwt_is_refused(
    http: AsyncTestClient[Litestar],
) -> None:
    for authorization in ("", "Bearer not-a-jwt", f"Bearer {_token({'name': 'no sub'})}"):
        response = await http.get("/me", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization
