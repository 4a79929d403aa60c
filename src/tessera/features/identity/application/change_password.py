from __future__ import annotations

from tessera.features.audit.domain.event import AuditAction
from tessera.features.identity.application.accounts import live_user
from tessera.features.identity.application.password_change import PasswordChange
from tessera.features.identity.domain.errors import InvalidCredentials
from tessera.shared.domain.caller import Principal
from tessera.shared.domain.errors import InvalidInput


class ChangePassword(PasswordChange):
    """Needs the current password (401 otherwise); other sessions end, this one stays."""

    async def execute(self, principal: Principal, current: str, new_password: str) -> None:
        user = await live_user(self._users, principal)
        await self._uow.rollback()  # no transaction held while passwords are hashed
        if not await self._hasher.verify(user.password_hash, current):
            raise InvalidCredentials("The current password is wrong.")
        if current == new_password:
            raise InvalidInput("The new password must differ.", field="new_password")
        await self._apply(user, new_password, keep=principal, action=AuditAction.PASSWORD_CHANGED)
