"""Fakes of the identity ports that have no in-memory adapter under src: users, their search,
one-time tokens, invitations, the tenant directory and a fast password hasher. Each is the
whole Protocol, checked by mypy at the bottom; the repositories keep their writes in a
`FakeUnitOfWork` (`Table`), as the SQL ones keep them in the request's transaction. The
contract suites under tests/contract run them beside the real adapters.

Where a port has an in-memory adapter (`InMemorySessionStore`, `InMemoryCache`), tests use
that adapter itself."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tessera.features.identity.application.ports import (
    USER_SORT_FIELDS,
    InvitationRepository,
    OneTimeTokens,
    PasskeyRepository,
    PasswordHasher,
    TenantDirectory,
    UserFilter,
    UserRepository,
    UserSearch,
)
from tessera.features.identity.domain.errors import EmailAlreadyRegistered
from tessera.features.identity.domain.invitation import Invitation, InvitationStatus
from tessera.features.identity.domain.passkeys import Passkey, PasskeyAlreadyRegistered
from tessera.features.identity.domain.user import User
from tessera.features.tenancy.domain.tenant import Tenant
from tessera.shared.domain.pagination import Page, PageRequest
from tests.fakes.tenancy import FakeTenantRepository
from tests.fakes.unit_of_work import FakeUnitOfWork, Table


class FakeUserRepository:
    """`UserRepository` over a `Table`; `save` writes the whole entity (the SQL adapter
    writes the changed fields, which is the same row afterwards)."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, User] = Table(unit_of_work)

    async def add(self, user: User) -> None:
        if await self.by_email(user.email) is not None:
            raise EmailAlreadyRegistered(field="email")
        user.changed.clear()
        self.rows[user.id] = user

    async def get(self, user_id: uuid.UUID) -> User | None:
        user = self.rows.get(user_id)
        return None if user is None or user.deleted_at is not None else user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.live() if u.email == email), None)

    async def save(self, user: User) -> None:
        user.changed.clear()
        if user.id in self.rows:
            self.rows[user.id] = user

    async def deleted_before(
        self, moment: datetime, *, limit: int
    ) -> Mapping[uuid.UUID, uuid.UUID]:
        gone = [u for u in self.rows.values() if u.deleted_at is not None and u.deleted_at < moment]
        gone.sort(key=lambda u: (u.deleted_at, u.id))
        return {u.id: u.tenant_id for u in gone[:limit]}

    async def purge(self, user_ids: Collection[uuid.UUID]) -> Collection[uuid.UUID]:
        removed = [
            user_id
            for user_id in user_ids
            if user_id in self.rows and self.rows[user_id].deleted_at is not None
        ]
        for user_id in removed:
            del self.rows[user_id]
        return removed

    def live(self) -> list[User]:
        return [u for u in self.rows.values() if u.deleted_at is None]


class FakeUserSearch:
    """`UserSearch` over the users of a `FakeUserRepository`."""

    def __init__(self, users: FakeUserRepository) -> None:
        self._users = users

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        assert page.sort in USER_SORT_FIELDS
        found = [u for u in self._users.live() if _matches(u, where)]
        found.sort(key=lambda u: (getattr(u, page.sort), u.id.bytes), reverse=page.order == "desc")
        return Page(found[page.offset : page.offset + page.limit], len(found), page)


def _matches(user: User, where: UserFilter) -> bool:
    search = (where.search or "").lower()
    return (
        where.tenant_id in (None, user.tenant_id)
        and where.is_active in (None, user.is_active)
        and where.is_verified in (None, user.is_verified)
        and where.role in (None, user.role)
        and (where.created_after is None or user.created_at >= where.created_after)
        and (where.created_before is None or user.created_at < where.created_before)
        and (search in user.email.lower() or search in user.full_name.lower())
    )


class FakeTenantDirectory:
    """`TenantDirectory` over the tenants of a `FakeTenantRepository`: one table behind the
    two ports, as in SQL."""

    def __init__(self, tenants: FakeTenantRepository) -> None:
        self._rows = tenants.rows

    async def create(self, *, tenant_id: uuid.UUID, name: str) -> None:
        now = datetime.now(UTC)
        self._rows[tenant_id] = Tenant(tenant_id, name.strip()[:255], True, now, now)

    async def name(self, tenant_id: uuid.UUID) -> str | None:
        tenant = self._rows.get(tenant_id)
        return None if tenant is None else tenant.name

    async def requires_mfa(self, tenant_id: uuid.UUID) -> bool:
        tenant = self._rows.get(tenant_id)
        return tenant is not None and tenant.mfa_required


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    user_id: uuid.UUID
    purpose: str
    expires_at: datetime
    used_at: datetime | None = None


class FakeOneTimeTokens:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[str, OneTimeToken] = Table(unit_of_work)  # by token hash

    async def issue(
        self, *, user: User, purpose: str, token_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        for digest, token in self.rows.items():
            if token.user_id == user.id and token.purpose == purpose and token.used_at is None:
                self.rows[digest] = replace(token, used_at=now)
        self.rows[token_hash] = OneTimeToken(user.id, purpose, expires_at)

    async def prune(self, *, before: datetime) -> int:
        spent = [
            digest
            for digest, token in self.rows.items()
            if token.expires_at < before or (token.used_at is not None and token.used_at < before)
        ]
        for digest in spent:
            del self.rows[digest]
        return len(spent)

    async def forget_users(self, user_ids: Collection[uuid.UUID]) -> int:
        theirs = [digest for digest, token in self.rows.items() if token.user_id in user_ids]
        for digest in theirs:
            del self.rows[digest]
        return len(theirs)

    async def consume(self, *, purpose: str, token_hash: str, now: datetime) -> uuid.UUID | None:
        token = self.rows.get(token_hash)
        usable = (
            token is not None
            and token.purpose == purpose
            and token.used_at is None
            and token.expires_at > now
        )
        if token is None or not usable:
            return None
        self.rows[token_hash] = replace(token, used_at=now)
        return token.user_id


_INVITATION_SORTS: Mapping[str, Callable[[Invitation], object]] = {
    "created_at": lambda i: i.created_at,
    "email": lambda i: i.email,
    "expires_at": lambda i: i.expires_at,
}


class FakeInvitationRepository:
    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, Invitation] = Table(unit_of_work)

    async def add(self, invitation: Invitation) -> None:
        self.rows[invitation.id] = invitation

    async def get(self, invitation_id: uuid.UUID) -> Invitation | None:
        return self.rows.get(invitation_id)

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        return next((i for i in self.rows.values() if i.token_hash == token_hash), None)

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID | None, status: str | None, now: datetime
    ) -> Page[Invitation]:
        found = [
            i
            for i in self.rows.values()
            if tenant_id in (None, i.tenant_id) and status in (None, i.status(now).value)
        ]
        key = _INVITATION_SORTS[page.sort]
        found.sort(key=lambda i: (key(i), i.id.bytes), reverse=page.order == "desc")
        return Page(found[page.offset : page.offset + page.limit], len(found), page)

    async def revoke_pending(self, *, tenant_id: uuid.UUID, email: str, now: datetime) -> int:
        pending = _pending(self.rows.values(), now)
        mine = [i for i in pending if i.tenant_id == tenant_id and i.email == email]
        for invitation in mine:
            self.rows[invitation.id] = replace(invitation, revoked_at=now)
        return len(mine)

    async def accept(self, invitation_id: uuid.UUID, *, now: datetime) -> bool:
        invitation = self.rows.get(invitation_id)
        if invitation is None or invitation.status(now) is not InvitationStatus.PENDING:
            return False
        self.rows[invitation_id] = replace(invitation, accepted_at=now)
        return True

    async def save(self, invitation: Invitation) -> None:
        if invitation.id in self.rows:
            self.rows[invitation.id] = invitation


def _pending(invitations: Iterable[Invitation], now: datetime) -> list[Invitation]:
    return [i for i in invitations if i.status(now) is InvitationStatus.PENDING]


class FakePasswordHasher:
    """A salted SHA-256 in the shape of a PHC string, instantly: `cost` stands for the
    argon2 parameters, so a hash made at another cost `needs_rehash`. `verifications`
    counts every verification, the dummy ones too (the no-timing-oracle rule)."""

    def __init__(self, cost: int = 2) -> None:
        self.cost = cost
        self.verifications = 0

    async def hash(self, password: str) -> str:
        salt = uuid.uuid4().hex
        return f"$fake$c={self.cost}${salt}${_digest(salt, password)}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        parts = password_hash.split("$")
        if len(parts) != 5 or parts[1] != "fake":
            return False
        return _digest(parts[3], password) == parts[4]

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"$fake$c={self.cost}$")

    async def verify_dummy(self, password: str) -> None:
        self.verifications += 1


def _digest(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


class FakePasskeyRepository:
    """`PasskeyRepository` over a `Table`; it sees every tenant (the fakes have no scope)."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.rows: Table[uuid.UUID, Passkey] = Table(unit_of_work)

    async def add(self, passkey: Passkey) -> None:
        if await self.by_credential_id(passkey.credential_id) is not None:
            raise PasskeyAlreadyRegistered(field="credential")
        self.rows[passkey.id] = passkey

    async def get(self, passkey_id: uuid.UUID) -> Passkey | None:
        return self.rows.get(passkey_id)

    async def of_user(self, user_id: uuid.UUID) -> Sequence[Passkey]:
        theirs = [p for p in self.rows.values() if p.user_id == user_id]
        return sorted(theirs, key=lambda p: (p.created_at, p.id.bytes))

    async def by_credential_id(self, credential_id: bytes) -> Passkey | None:
        return next((p for p in self.rows.values() if p.credential_id == credential_id), None)

    async def record_use(
        self, passkey_id: uuid.UUID, *, seen_count: int, sign_count: int, used_at: datetime
    ) -> bool:
        passkey = self.rows.get(passkey_id)
        if passkey is None or passkey.sign_count != seen_count:
            return False
        self.rows[passkey_id] = replace(passkey, sign_count=sign_count, last_used_at=used_at)
        return True

    async def remove(self, passkey_id: uuid.UUID) -> bool:
        return self.rows.pop(passkey_id, None) is not None


def _check(
    users: FakeUserRepository,
    search: FakeUserSearch,
    tenants: FakeTenantDirectory,
    tokens: FakeOneTimeTokens,
    invitations: FakeInvitationRepository,
    hasher: FakePasswordHasher,
    passkeys: FakePasskeyRepository,
) -> Sequence[object]:
    ports: tuple[
        UserRepository,
        UserSearch,
        TenantDirectory,
        OneTimeTokens,
        InvitationRepository,
        PasswordHasher,
        PasskeyRepository,
    ] = (users, search, tenants, tokens, invitations, hasher, passkeys)
    return ports
