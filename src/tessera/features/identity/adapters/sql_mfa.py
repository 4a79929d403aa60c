"""`MfaCredentials` on SQLAlchemy (PostgreSQL or SQLite), in the request's session.

Every decision that must hold across processes is one conditional statement: a step is
spent by `UPDATE ... WHERE last_used_step < :step`, a recovery code by `UPDATE ... WHERE
used_at IS NULL`, a confirmation by `UPDATE ... WHERE enabled_at IS NULL`. PostgreSQL makes
a concurrent writer of the same row wait and then re-check the condition, SQLite has one
writer at a time, so of two concurrent attempts exactly one changes the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.identity.adapters.models import RecoveryCodeModel, TotpCredentialModel
from tessera.features.identity.domain.mfa import TotpCredential

_NO_SYNC: dict[str, Any] = {"synchronize_session": False}


class SqlMfaCredentials:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: uuid.UUID) -> TotpCredential | None:
        T = TotpCredentialModel
        row = (
            await self._session.execute(
                select(T.tenant_id, T.secret, T.enabled_at, T.last_used_step).where(
                    T.user_id == user_id
                )
            )
        ).first()
        if row is None:
            return None
        return TotpCredential(
            user_id=user_id,
            tenant_id=row.tenant_id,
            sealed_secret=row.secret,
            enabled=row.enabled_at is not None,
            last_used_step=row.last_used_step,
        )

    async def set_pending(
        self, *, user_id: uuid.UUID, tenant_id: uuid.UUID, sealed_secret: str, now: datetime
    ) -> bool:
        T = TotpCredentialModel
        replaced = await self._session.execute(
            update(T)
            .where(T.user_id == user_id, T.enabled_at.is_(None))
            .values(secret=sealed_secret, last_used_step=0, updated_at=now),
            execution_options=_NO_SYNC,
        )
        if _count(replaced):
            return True
        if await self._session.scalar(select(T.id).where(T.user_id == user_id)) is not None:
            return False  # enabled
        self._session.add(
            T(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                user_id=user_id,
                secret=sealed_secret,
                last_used_step=0,
                created_at=now,
                updated_at=now,
            )
        )
        await self._session.flush()
        return True

    async def enable(
        self, user_id: uuid.UUID, *, step: int, code_hashes: Collection[str], now: datetime
    ) -> bool:
        T = TotpCredentialModel
        tenant_id = await self._session.scalar(
            update(T)
            .where(T.user_id == user_id, T.enabled_at.is_(None))
            .values(enabled_at=now, last_used_step=step, updated_at=now)
            .returning(T.tenant_id),
            execution_options=_NO_SYNC,
        )
        if tenant_id is None:
            return False
        await self.replace_recovery_codes(user_id, tenant_id=tenant_id, code_hashes=code_hashes)
        return True

    async def use_step(self, user_id: uuid.UUID, step: int) -> bool:
        T = TotpCredentialModel
        used = await self._session.execute(
            update(T)
            .where(T.user_id == user_id, T.enabled_at.is_not(None), T.last_used_step < step)
            .values(last_used_step=step),
            execution_options=_NO_SYNC,
        )
        return _count(used) == 1

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, *, now: datetime) -> bool:
        R = RecoveryCodeModel
        used = await self._session.execute(
            update(R)
            .where(R.user_id == user_id, R.code_hash == code_hash, R.used_at.is_(None))
            .values(used_at=now, updated_at=now),
            execution_options=_NO_SYNC,
        )
        return _count(used) == 1

    async def replace_recovery_codes(
        self, user_id: uuid.UUID, *, tenant_id: uuid.UUID, code_hashes: Collection[str]
    ) -> None:
        R = RecoveryCodeModel
        await self._session.execute(
            delete(R).where(R.user_id == user_id), execution_options=_NO_SYNC
        )
        if code_hashes:  # id and timestamps: the columns' own defaults
            rows = [
                {"tenant_id": tenant_id, "user_id": user_id, "code_hash": h} for h in code_hashes
            ]
            await self._session.execute(insert(R), rows)

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        R = RecoveryCodeModel
        left = await self._session.scalar(
            select(func.count()).where(R.user_id == user_id, R.used_at.is_(None))
        )
        return int(left or 0)

    async def remove(self, user_id: uuid.UUID) -> bool:
        R, T = RecoveryCodeModel, TotpCredentialModel
        await self._session.execute(
            delete(R).where(R.user_id == user_id), execution_options=_NO_SYNC
        )
        removed = await self._session.execute(
            delete(T).where(T.user_id == user_id), execution_options=_NO_SYNC
        )
        return _count(removed) > 0


def _count(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]
