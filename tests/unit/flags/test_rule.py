"""The flag rule: kill switch, allow lists, and a stable, even percentage rollout."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera.features.flags.domain.flag import FeatureFlag, bucket
from tessera.shared.domain.errors import InvalidInput

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# 10,000 realistic user ids, the same in every run and every process.
USERS = [uuid.uuid5(uuid.NAMESPACE_URL, f"https://tessera.test/users/{n}") for n in range(10_000)]


def flag(**fields: object) -> FeatureFlag:
    return FeatureFlag.create(key=str(fields.pop("key", "new-dashboard")), now=NOW, **fields)  # type: ignore[arg-type]


def enabled_among(subject: FeatureFlag, users: list[uuid.UUID]) -> set[int]:
    return {n for n, user in enumerate(users) if subject.is_enabled_for(user)}


@pytest.mark.parametrize("key", ["new-dashboard", "beta_search", "ui.v2", "a", "0day", "x" * 64])
def test_lower_case_slugs_up_to_64_characters_are_valid_keys(key: str) -> None:
    assert flag(key=key).key == key


@pytest.mark.parametrize(
    "key", ["", "New-Dashboard", "-lead", "_lead", ".lead", "has space", "ü", "x" * 65, "a/b"]
)
def test_other_keys_are_refused_naming_the_field(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        flag(key=key)
    assert caught.value.field == "key"


@pytest.mark.parametrize("percentage", [-1, 101, 1000, True])
def test_a_rollout_outside_0_to_100_is_refused(percentage: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        flag(rollout_percentage=percentage)
    assert caught.value.field == "rollout_percentage"
    with pytest.raises(InvalidInput):
        flag().changed(now=NOW, rollout_percentage=percentage)


def test_descriptions_and_allow_lists_are_bounded() -> None:
    with pytest.raises(InvalidInput) as long_text:
        flag(description="x" * 501)
    assert long_text.value.field == "description"
    with pytest.raises(InvalidInput) as many:
        flag(user_ids=[uuid.uuid4() for _ in range(10_001)])
    assert many.value.field == "user_ids"
    repeated = uuid.uuid4()
    assert flag(tenant_ids=[repeated, repeated]).tenant_ids == {repeated}


def test_a_new_flag_is_off_and_reaches_nobody_until_told() -> None:
    created = flag()
    assert (created.enabled, created.rollout_percentage) == (False, 0)
    assert enabled_among(created.changed(now=NOW, enabled=True), USERS[:1000]) == set()


def test_a_disabled_flag_is_off_even_for_allow_listed_users_and_a_full_rollout() -> None:
    user, tenant = uuid.uuid4(), uuid.uuid4()
    off = flag(enabled=False, rollout_percentage=100, user_ids=[user], tenant_ids=[tenant])
    assert not off.is_enabled_for(user, tenant)
    assert enabled_among(off, USERS[:1000]) == set()


def test_allow_listed_users_and_tenants_have_the_flag_whatever_the_rollout() -> None:
    user, tenant, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    subject = flag(enabled=True, rollout_percentage=0, user_ids=[user], tenant_ids=[tenant])
    assert subject.is_enabled_for(user)
    assert subject.is_enabled_for(other, tenant)
    assert not subject.is_enabled_for(other, uuid.uuid4())
    assert not subject.is_enabled_for(other)  # no tenant given: rollout only


def test_zero_and_one_hundred_percent_mean_nobody_and_everybody() -> None:
    assert enabled_among(flag(enabled=True, rollout_percentage=0), USERS) == set()
    assert len(enabled_among(flag(enabled=True, rollout_percentage=100), USERS)) == len(USERS)


@pytest.mark.parametrize("key", ["new-dashboard", "checkout.v2", "beta_search"])
def test_ten_thousand_users_at_25_percent_give_25_percent_within_one_and_a_half(key: str) -> None:
    share = len(enabled_among(flag(key=key, enabled=True, rollout_percentage=25), USERS)) / 100
    assert 23.5 <= share <= 26.5, share


def test_raising_the_rollout_only_adds_users() -> None:
    at = {p: enabled_among(flag(enabled=True, rollout_percentage=p), USERS) for p in (10, 25, 50)}
    assert at[10] <= at[25] <= at[50]
    assert len(at[10]) < len(at[25]) < len(at[50])


def test_each_flag_draws_its_own_cohort() -> None:
    first = enabled_among(flag(key="first", enabled=True, rollout_percentage=50), USERS)
    second = enabled_among(flag(key="second", enabled=True, rollout_percentage=50), USERS)
    overlap = len(first & second) / len(first)
    assert 0.45 < overlap < 0.55  # independent halves overlap by about half, not fully


def test_the_bucket_is_sha256_of_key_and_user_id_and_never_changes() -> None:
    user = uuid.UUID("12345678-1234-5678-1234-567812345678")
    digest = hashlib.sha256(b"new-dashboard:12345678-1234-5678-1234-567812345678").digest()
    assert bucket("new-dashboard", user) == int.from_bytes(digest[:8], "big") % 10_000
    # Pinned: changing the hash would silently move every user of every running rollout.
    assert [bucket("new-dashboard", USERS[n]) for n in range(3)] == PINNED_BUCKETS


PINNED_BUCKETS = [5970, 5748, 368]

_IN_ANOTHER_PROCESS = """
import json, sys, uuid
from tessera.features.flags.domain.flag import FeatureFlag
from datetime import UTC, datetime
users = [uuid.uuid5(uuid.NAMESPACE_URL, f"https://tessera.test/users/{n}") for n in range(10_000)]
flag = FeatureFlag.create(key="new-dashboard", now=datetime.now(UTC), enabled=True,
                          rollout_percentage=25)
print(json.dumps([n for n, user in enumerate(users) if flag.is_enabled_for(user)]))
"""


@pytest.mark.parametrize("hash_seed", ["0", "1", "4242"])
def test_the_same_users_get_the_flag_in_another_process(hash_seed: str) -> None:
    here = enabled_among(flag(enabled=True, rollout_percentage=25), USERS)
    env = os.environ | {"PYTHONHASHSEED": hash_seed}  # Python's own hash() would differ
    result = subprocess.run(
        [sys.executable, "-c", _IN_ANOTHER_PROCESS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    there = set(json.loads(result.stdout))
    assert there == here
    assert len(here) > 2000


def test_changing_fields_keeps_the_others_and_moves_updated_at() -> None:
    user = uuid.uuid4()
    original = flag(description="Beta", user_ids=[user], rollout_percentage=10)
    later = NOW + timedelta(minutes=5)
    changed = original.changed(now=later, enabled=True)
    assert (changed.enabled, changed.description, changed.user_ids) == (
        True,
        "Beta",
        frozenset({user}),
    )
    assert (changed.rollout_percentage, changed.key, changed.id) == (10, original.key, original.id)
    assert (changed.created_at, changed.updated_at) == (NOW, later)
