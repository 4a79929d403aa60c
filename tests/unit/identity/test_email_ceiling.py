"""The per-account email ceiling (SPEC §3.12), on the memory cache with a virtual clock;
the e2e test `test_abuse.py` runs it through the API, Redis and a worker."""

from __future__ import annotations

from tessera.features.identity.application.common import IdentityConfig
from tessera.features.identity.application.email_ceiling import EmailCeiling, MailKind
from tessera.shared.adapters.memory_cache import InMemoryCache


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def ceiling(cache: InMemoryCache, per_hour: int = 3) -> EmailCeiling:
    config = IdentityConfig(
        access_ttl_seconds=60, refresh_ttl_seconds=60, idle_ttl_seconds=60,
        require_verified_email=False, public_base_url="https://app.example",
        email_per_account_per_hour=per_hour,
    )  # fmt: skip
    return EmailCeiling(cache, config)


async def test_each_kind_reaches_one_address_at_most_the_ceiling_times_an_hour() -> None:
    clock = Clock()
    emails = ceiling(InMemoryCache(monotonic=clock))
    reset = MailKind.PASSWORD_RESET
    assert [await emails.allows(reset, "alice@example.com") for _ in range(5)] == [
        True, True, True, False, False,
    ]  # fmt: skip
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
        True, False,
    ]  # fmt: skip
    assert cache._entries, "counted"
    assert not any("carol" in key for key in cache._entries)
