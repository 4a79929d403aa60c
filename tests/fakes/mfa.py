"""`MfaCredentials` for use-case tests: credentials and recovery codes in a
`FakeUnitOfWork`, the whole Protocol (checked at the bottom). The contract suite
(tests/contract/test_mfa_credentials.py) runs it beside the SQL adapter."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

from tessera.features.identity.application.ports import MfaCredentials
from tessera.features.identity.domain.mfa import TotpCredential
from tests.fakes.unit_of_work import FakeUnitOfWork, Table


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    user_id: uuid.UUID
    code_hash: str
    used_at: datetime | None = None


class FakeMfaCredentials:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, TotpCredential] = Table(unit_of_work)  # by user id
        self.codes: Table[tuple[uuid.UUID, str], RecoveryCode] = Table(unit_of_work)

    async def get(self, user_id: uuid.UUID) -> TotpCredential | None:
        return self.rows.get(user_id)

    async def set_pending(
        self, *, user_id: uuid.UUID, tenant_id: uuid.UUID, sealed_secret: str, now: datetime
    ) -> bool:
        found = self.rows.get(user_id)
        if found is not None and found.enabled:
            return False
        self.rows[user_id] = TotpCredential(user_id, tenant_id, sealed_secret, False, 0)
        return True

    async def enable(
        self, user_id: uuid.UUID, *, step: int, code_hashes: Collection[str], now: datetime
    ) -> bool:
        found = self.rows.get(user_id)
        if found is None or found.enabled:
            return False
        self.rows[user_id] = replace(found, enabled=True, last_used_step=step)
        await self.replace_recovery_codes(
            user_id, tenant_id=found.tenant_id, code_hashes=code_hashes
        )
        return True

    async def use_step(self, user_id: uuid.UUID, step: int) -> bool:
        found = self.rows.get(user_id)
        if found is None or not found.enabled or found.last_used_step >= step:
            return False
        self.rows[user_id] = replace(found, last_used_step=step)
        return True

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, *, now: datetime) -> bool:
        code = self.codes.get((user_id, code_hash))
        if code is None or code.used_at is not None:
            return False
        self.codes[(user_id, code_hash)] = replace(code, used_at=now)
        return True

    async def replace_recovery_codes(
        self, user_id: uuid.UUID, *, tenant_id: uuid.UUID, code_hashes: Collection[str]
    ) -> None:
        for key in [key for key in self.codes if key[0] == user_id]:
            del self.codes[key]
        for code_hash in code_hashes:
            self.codes[(user_id, code_hash)] = RecoveryCode(user_id, code_hash)

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        return sum(1 for c in self.codes.values() if c.user_id == user_id and c.used_at is None)

    async def remove(self, user_id: uuid.UUID) -> bool:
        for key in [key for key in self.codes if key[0] == user_id]:
            del self.codes[key]
        return self.rows.pop(user_id, None) is not None


def _check(credentials: FakeMfaCredentials) -> MfaCredentials:
    return credentials
