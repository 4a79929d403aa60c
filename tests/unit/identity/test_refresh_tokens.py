"""`RefreshTokens` on fakes (SPEC §3.3 `POST /auth/refresh`): rotation, the grace window for
a concurrent refresh, reuse of an older token revoking the session, and what is no refresh
token at all."""

from __future__ import annotations

import pytest

from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.domain.errors import InvalidToken
from tessera.features.identity.domain.sessions import REFRESH_GRACE_SECONDS
from tests.unit.identity.harness import Identity


@pytest.fixture
def identity() -> Identity:
    return Identity()


async def a_session(identity: Identity) -> TokenPair:
    pair = await identity.signed_in(await identity.a_user())
    identity.clock.advance(60)
    return pair


async def test_a_refresh_rotates_both_tokens_of_the_same_session(identity: Identity) -> None:
    first = await a_session(identity)
    second = await identity.refresh().execute(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert identity.principal(second) == identity.principal(first)
    assert await identity.alive(second)
    third = await identity.refresh().execute(second.refresh_token)  # the new one works
    assert await identity.alive(third)


async def test_within_the_grace_window_the_parent_gets_the_same_new_pair(
    identity: Identity,
) -> None:
    first = await a_session(identity)
    second = await identity.refresh().execute(first.refresh_token)
    identity.clock.advance(REFRESH_GRACE_SECONDS - 1)
    again = await identity.refresh().execute(first.refresh_token)  # a concurrent retry
    assert again == second
    assert await identity.alive(second)


async def test_the_parent_after_the_grace_window_revokes_the_whole_session(
    identity: Identity,
) -> None:
    first = await a_session(identity)
    second = await identity.refresh().execute(first.refresh_token)
    identity.clock.advance(REFRESH_GRACE_SECONDS + 1)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(first.refresh_token)
    assert not await identity.alive(second)
    with pytest.raises(InvalidToken):  # the thief's pair is dead too
        await identity.refresh().execute(second.refresh_token)


async def test_an_older_ancestor_revokes_the_session_at_once(identity: Identity) -> None:
    first = await a_session(identity)
    second = await identity.refresh().execute(first.refresh_token)
    identity.clock.advance(1)
    third = await identity.refresh().execute(second.refresh_token)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(first.refresh_token)  # not the immediate parent
    assert not await identity.alive(third)


async def test_a_reuse_forgets_the_users_devices(identity: Identity) -> None:
    user = await identity.a_user()
    first = await identity.signed_in(user)
    identity.clock.advance(60)
    await identity.refresh().execute(first.refresh_token)
    identity.clock.advance(REFRESH_GRACE_SECONDS + 1)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(first.refresh_token)
    await identity.signed_in(user)  # the same device as before
    assert len(identity.outbox.of_type("user.security_alert")) == 2, "reported again"


async def test_an_access_token_is_no_refresh_token(identity: Identity) -> None:
    pair = await a_session(identity)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(pair.access_token)
    assert await identity.alive(pair)


async def test_a_refresh_token_of_an_ended_session_is_refused(identity: Identity) -> None:
    pair = await a_session(identity)
    principal = identity.principal(pair)
    assert await identity.sessions.revoke(principal.user_id, principal.session_id)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(pair.refresh_token)


async def test_a_session_past_its_idle_time_cannot_be_refreshed(identity: Identity) -> None:
    pair = await a_session(identity)
    identity.clock.advance(identity.config.idle_ttl_seconds + 1)
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(pair.refresh_token)


@pytest.mark.parametrize("token", ["", "not.a.jwt", "a" * 300])
async def test_garbage_is_an_invalid_token(identity: Identity, token: str) -> None:
    with pytest.raises(InvalidToken):
        await identity.refresh().execute(token)
