"""`PasskeyRepository` on SQLAlchemy (PostgreSQL or SQLite), in the request's session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.identity.adapters.models import PasskeyModel
from tessera.features.identity.adapters.sql_users import is_unique_violation
from tessera.features.identity.domain.passkeys import Passkey, PasskeyAlreadyRegistered


def _entity(model: PasskeyModel) -> Passkey:
    return Passkey(
        id=model.id,
        tenant_id=model.tenant_id,
        user_id=model.user_id,
        credential_id=bytes(model.credential_id),
        public_key=bytes(model.public_key),
        sign_count=model.sign_count,
        transports=tuple(model.transports),
        name=model.name,
        aaguid=model.aaguid,
        created_at=model.created_at,
        last_used_at=model.last_used_at,
    )


class SqlPasskeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, passkey: Passkey) -> None:
        self._session.add(
            PasskeyModel(
                id=passkey.id,
                tenant_id=passkey.tenant_id,
                user_id=passkey.user_id,
                credential_id=passkey.credential_id,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
                transports=list(passkey.transports),
                name=passkey.name,
                aaguid=passkey.aaguid,
                created_at=passkey.created_at,
                updated_at=passkey.created_at,
                last_used_at=passkey.last_used_at,
            )
        )
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError as error:
            if is_unique_violation(error):
                raise PasskeyAlreadyRegistered(field="credential") from None
            raise

    async def get(self, passkey_id: uuid.UUID) -> Passkey | None:
        found = await self._session.scalar(
            select(PasskeyModel).where(PasskeyModel.id == passkey_id)
        )
        return None if found is None else _entity(found)

    async def of_user(self, user_id: uuid.UUID) -> Sequence[Passkey]:
        P = PasskeyModel
        query = select(P).where(P.user_id == user_id).order_by(P.created_at, P.id)
        return [_entity(model) for model in await self._session.scalars(query)]

    async def by_credential_id(self, credential_id: bytes) -> Passkey | None:
        P = PasskeyModel
        found = await self._session.scalar(select(P).where(P.credential_id == credential_id))
        return None if found is None else _entity(found)

    async def record_use(
        self, passkey_id: uuid.UUID, *, seen_count: int, sign_count: int, used_at: datetime
    ) -> bool:
        P = PasskeyModel
        statement = (
            update(P)
            .where(P.id == passkey_id, P.sign_count == seen_count)
            .values(sign_count=sign_count, last_used_at=used_at, updated_at=used_at)
            .returning(P.id)
        )
        result = await self._session.execute(
            statement, execution_options={"synchronize_session": False}
        )
        return result.scalar_one_or_none() is not None

    async def remove(self, passkey_id: uuid.UUID) -> bool:
        statement = delete(PasskeyModel).where(PasskeyModel.id == passkey_id)
        result = await self._session.execute(
            statement.returning(PasskeyModel.id), execution_options={"synchronize_session": False}
        )
        return result.scalar_one_or_none() is not None
