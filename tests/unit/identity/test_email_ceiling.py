"""The per-account email ceiling (SPEC §3.12), on the memory cache with a virtual clock;
the e2e test `test_abuse.py` runs it through the API, Redis and a worker."""

from __future__ import annotations

import logging

import pytest

from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.ports import Counter
from tessera.shared.domain.errors import DependencyUnavailable


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def ceiling(cache: InMemoryCache, per_hour: int = 3) -> EmailCeiling:
    config = IdentityConfig(
        access_ttl_seconds=60,
        refresh_ttl_seconds=60,
        idle_ttl_seconds=60,
        require_verified_email=False,
        public_base_url="https://app.example",
        email_per_account_per_hour=per_hour,
    )
    return EmailCeiling(cache, config)


async def test_each_kind_reaches_one_address_at_most_the_ceiling_times_an_hour() -> None:
    clock = Clock()
    emails = ceiling(InMemoryCache(monotonic=clock))
    reset = MailKind.PASSWORD_RESET
    assert [await emails.allows(reset, "alice@example.com") for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert await emails.allows(MailKind.VERIFY_EMAIL, "alice@example.com"), "a kind of its own"
    assert await emails.allows(reset, "bob@example.com"), "an address of its own"
    clock.seconds += 3599
    assert not await emails.allows(reset, "alice@example.com"), "refusals do not extend it"
    clock.seconds += 1
    assert await emails.allows(reset, "alice@example.com"), "the next hour"


async def test_the_ceiling_is_a_setting_and_the_keys_hold_no_address() -> None:
    cache = InMemoryCache()
    emails = ceiling(cache, per_hour=1)
    invitation = MailKind.INVITATION
    assert [await emails.allows(invitation, "carol@example.com") for _ in range(2)] == [
        True,
        False,
    ]
    assert cache._entries, "counted"
    assert not any("carol" in key for key in cache._entries)


class DownCache(InMemoryCache):
    async def increment(self, key: str, *, window_seconds: float, amount: int = 1) -> Counter:
        raise DependencyUnavailable("The cache is unavailable.")


async def test_a_cache_outage_lets_emails_through_with_one_warning_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like the rate limits: an outage costs the ceiling, not sign-ups or reset links."""
    clock = Clock()
    config = IdentityConfig(
        access_ttl_seconds=60,
        refresh_ttl_seconds=60,
        idle_ttl_seconds=60,
        require_verified_email=False,
        public_base_url="https://app.example",
    )
    emails = EmailCeiling(DownCache(), config, monotonic=clock)
    with caplog.at_level(logging.WARNING, logger="tessera.security"):
        allowed = [await emails.allows(MailKind.PASSWORD_RESET, "a@example.com") for _ in range(5)]
        clock.seconds += 60
        allowed.append(await emails.allows(MailKind.PASSWORD_RESET, "a@example.com"))
    assert allowed == [True] * 6
    assert [record.getMessage() for record in caplog.records] == [
        "email ceiling not enforced: the cache is unavailable"
    ] * 2
