"""The account_security benchmark's bookkeeping: every PATCH it sends is a real change, and
no MFA flow is handed an account whose TOTP code of the step is already spent."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

from bench import account_security
from bench.account_security import _TotpAccount, _TotpPool
from bench.identity import User
from bench.load import Request

from tests.unit.bench import sample


def _names(requests: list[Request]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = defaultdict(list)
    for request in requests:
        names[request.path].append(json.loads(request.body)["full_name"])
    return names


def test_each_patch_renames_its_user_to_a_name_no_earlier_list_gave() -> None:
    targets = [str(uuid.uuid4()) for _ in range(5)]

    warmup = _names(account_security._patches("token", targets))
    window = _names(account_security._patches("token", targets))

    assert set(window) == {f"/api/v1/users/{user_id}" for user_id in targets}
    for path, (first, second) in window.items():
        assert first != second
        assert not {first, second} & set(warmup[path])


def test_patches_carry_the_admin_s_token() -> None:
    (request, *_) = account_security._patches("the-admin-token", [str(uuid.uuid4())])

    assert request.method == "PATCH"
    assert request.headers["Authorization"] == "Bearer the-admin-token"


def _account(n: int, spent_step: int) -> _TotpAccount:
    return _TotpAccount(User(f"u{n}@example.com", "pw"), "SECRET", spent_step=spent_step)


async def test_the_pool_hands_out_only_idle_accounts_whose_step_is_unspent() -> None:
    now = account_security._step()
    spent, busy, free = _account(0, now), _account(1, now - 1), _account(2, now - 1)
    busy.busy = True
    pool = _TotpPool([spent, busy, free])

    taken = await pool.take()

    assert taken is free
    assert free.busy
    assert pool.waits == 0


def test_the_pooled_audit_figures_add_up_the_rounds() -> None:
    rounds = [sample.load(100.0), sample.load(300.0)]

    figures = account_security._pooled(rounds)

    assert figures["ok"] == sum(r.ok for r in rounds)
    assert figures["rps"] == sum(r.ok for r in rounds) / sum(r.window_s for r in rounds)
    assert figures["rounds_rps"] == "100, 300"
