"""The identity use cases wired to fakes: the in-memory adapters from src where they exist
(sessions, cache), the typed fakes of tests/fakes for the rest, the real JWT issuer."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from tessera.features.audit.adapters.memory_audit import InMemoryAuditLog
from tessera.features.identity.adapters.jwt_tokens import JwtTokenIssuer
from tessera.features.identity.adapters.memory_sessions import InMemorySessionStore
from tessera.features.identity.adapters.mfa_tickets import InMemoryMfaTickets
from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.change_password import ChangePassword
from tessera.features.identity.application.email_ceiling import EmailCeiling
from tessera.features.identity.application.forgot_password import ForgotPassword
from tessera.features.identity.application.log_in import Credentials, LogIn, MfaChallenge
from tessera.features.identity.application.refresh_tokens import RefreshTokens
from tessera.features.identity.application.register_user import RegisterUser, Registration
from tessera.features.identity.application.reset_password import ResetPassword
from tessera.features.identity.application.token_pairs import TokenPair
from tessera.features.identity.application.totp_enrolment import (
    ConfirmTotp,
    DisableTotp,
    GetMfaStatus,
    RegenerateRecoveryCodes,
    SetUpTotp,
)
from tessera.features.identity.application.verify_mfa import MfaAttempt, VerifyMfa
from tessera.features.identity.domain.user import User
from tessera.shared.adapters.aes_gcm import TOTP_SECRETS, AesGcmSecretBox
from tessera.shared.adapters.memory_cache import InMemoryCache
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal, Role
from tests.fakes.clock import FakeClock
from tests.fakes.identity import (
    FakeInvitationRepository,
    FakeOneTimeTokens,
    FakePasswordHasher,
    FakeTenantDirectory,
    FakeUserRepository,
)
from tests.fakes.mfa import FakeMfaCredentials
from tests.fakes.tenancy import FakeTenantRepository
from tests.fakes.unit_of_work import FakeUnitOfWork, RecordingOutbox

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
BASE_URL = "https://app.example"


def config(
    *, require_verified_email: bool = False, sessions_per_user_max: int = 100
) -> IdentityConfig:
    return IdentityConfig(
        access_ttl_seconds=900,
        refresh_ttl_seconds=30 * 86400,
        idle_ttl_seconds=7 * 86400,
        require_verified_email=require_verified_email,
        public_base_url=BASE_URL,
        sessions_per_user_max=sessions_per_user_max,
    )


@dataclass
class Identity:
    """One deployment's state; each use case runs in `unit_of_work`, as one request does."""

    config: IdentityConfig = field(default_factory=config)
    clock: FakeClock = field(default_factory=FakeClock)
    unit_of_work: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    hasher: FakePasswordHasher = field(default_factory=FakePasswordHasher)

    def __post_init__(self) -> None:
        self.users = FakeUserRepository(self.unit_of_work)
        self.tenant_rows = FakeTenantRepository(self.unit_of_work)
        self.tenants = FakeTenantDirectory(self.tenant_rows)
        self.invitations = FakeInvitationRepository(self.unit_of_work)
        self.links = FakeOneTimeTokens(self.unit_of_work)
        self.outbox = RecordingOutbox(self.unit_of_work)
        self.cache = InMemoryCache(monotonic=self.clock.monotonic)
        self.audit = InMemoryAuditLog(self.clock)
        self.sessions = InMemorySessionStore(clock_ms=self.clock.epoch_ms)
        self.mfa = FakeMfaCredentials(self.unit_of_work)
        self.tickets = InMemoryMfaTickets(clock=self.clock.monotonic)
        self.box = AesGcmSecretBox(os.urandom(32), purpose=TOTP_SECRETS)
        self.tokens = JwtTokenIssuer(
            "a test secret of at least 32 bytes!",
            issuer="tessera",
            audience="tessera",
            clock=self.clock.now,
        )

    def register(self) -> RegisterUser:
        return RegisterUser(
            self.users,
            self.tenants,
            self.invitations,
            self.hasher,
            self.outbox,
            self.unit_of_work,
            self.clock,
            TenantScope(),
            self.links,
            self.config,
            EmailCeiling(self.cache, self.config),
            self.audit,
        )

    def log_in(self) -> LogIn:
        return LogIn(
            self.users,
            self.hasher,
            self.sessions,
            self.tokens,
            self.cache,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.config,
            TenantScope(),
            self.audit,
            self.mfa,
            self.tickets,
            self.tenants,
        )

    def verify_mfa(self) -> VerifyMfa:
        return VerifyMfa(
            self.tickets,
            self.users,
            self.mfa,
            self.box,
            self.sessions,
            self.tokens,
            self.cache,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.config,
            TenantScope(),
            self.audit,
        )

    def set_up_totp(self) -> SetUpTotp:
        return SetUpTotp(self.users, self.mfa, self.box, self.unit_of_work, self.clock, self.config)

    def confirm_totp(self) -> ConfirmTotp:
        return ConfirmTotp(
            self.users,
            self.mfa,
            self.box,
            self.sessions,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.audit,
        )

    def mfa_status(self) -> GetMfaStatus:
        return GetMfaStatus(self.mfa)

    def regenerate_codes(self) -> RegenerateRecoveryCodes:
        return RegenerateRecoveryCodes(
            self.users, self.mfa, self.box, self.outbox, self.unit_of_work, self.clock
        )

    def disable_totp(self) -> DisableTotp:
        return DisableTotp(
            self.users,
            self.hasher,
            self.mfa,
            self.box,
            self.tenants,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.audit,
        )

    async def password_step(
        self, user: User, *, ip_address: str = "203.0.113.7", user_agent: str = "Firefox"
    ) -> TokenPair | MfaChallenge:
        return await self.log_in().execute(
            Credentials(user.email, PASSWORD, ip_address=ip_address, user_agent=user_agent)
        )

    async def mfa_verified(
        self, ticket: str, code: str, *, ip_address: str = "203.0.113.7"
    ) -> TokenPair:
        return await self.verify_mfa().execute(
            MfaAttempt(ticket, code, ip_address=ip_address, user_agent="Firefox")
        )

    def refresh(self) -> RefreshTokens:
        return RefreshTokens(self.tokens, self.sessions, self.clock, self.config)

    def change_password(self) -> ChangePassword:
        return ChangePassword(
            self.users,
            self.hasher,
            self.sessions,
            self.cache,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.audit,
        )

    def forgot_password(self) -> ForgotPassword:
        return ForgotPassword(
            self.users,
            self.links,
            self.outbox,
            self.unit_of_work,
            self.clock,
            self.config,
            TenantScope(),
            EmailCeiling(self.cache, self.config),
        )

    def reset_password(self) -> ResetPassword:
        return ResetPassword(
            self.links,
            self.users,
            self.hasher,
            self.sessions,
            self.cache,
            self.outbox,
            self.unit_of_work,
            self.clock,
            TenantScope(),
            self.audit,
        )

    async def a_user(
        self,
        email: str = "ada@example.com",
        *,
        verified: bool = True,
        active: bool = True,
        role: Role = Role.USER,
        tenant_id: uuid.UUID | None = None,
    ) -> User:
        """An account as the database holds it (committed), with `PASSWORD`, in a tenant
        of its own unless `tenant_id` says which."""
        user = User.register(
            tenant_id=tenant_id or uuid.uuid4(),
            email=email,
            password_hash=await self.hasher.hash(PASSWORD),
            full_name="Ada Lovelace",
            role=role,
            now=self.clock.now(),
        )
        if verified:
            user.mark_verified(self.clock.now())
        user.set_active(active, self.clock.now())
        await self.users.add(user)
        await self.unit_of_work.commit()
        return user

    async def signed_in(
        self, user: User, *, ip_address: str = "203.0.113.7", user_agent: str = "Firefox"
    ) -> TokenPair:
        pair = await self.password_step(user, ip_address=ip_address, user_agent=user_agent)
        assert isinstance(pair, TokenPair), "an account with MFA: use password_step"
        return pair

    def principal(self, pair: TokenPair) -> Principal:
        """Who an access token speaks for, as the authentication middleware reads it."""
        claims = self.tokens.verify(pair.access_token, expected_type="access")
        return Principal(claims.user_id, claims.tenant_id, claims.role, claims.session_id)

    async def alive(self, pair: TokenPair) -> bool:
        """Whether the session of `pair` still lives (what every request asks)."""
        return await self.role_of(pair) is not None

    async def role_of(self, pair: TokenPair) -> Role | None:
        """The role the session of `pair` speaks for now; None once it has ended."""
        principal = self.principal(pair)
        touched = await self.sessions.touch(
            principal.user_id,
            principal.session_id,
            now=self.clock.now(),
            idle_seconds=self.config.idle_ttl_seconds,
        )
        return None if touched is None else touched.caller.role

    def tenant_names(self) -> dict[uuid.UUID, str]:
        """The tenants as committed, by id."""
        return {key: tenant.name for key, tenant in self.tenant_rows.rows.committed().items()}

    def stored(self, user: User) -> User:
        """The account as committed."""
        return self.users.rows.committed()[user.id]


def registration(
    email: str = "grace@example.com",
    *,
    password: str = PASSWORD,
    tenant_name: str | None = None,
    invitation_token: str | None = None,
) -> Registration:
    return Registration(
        email=email,
        password=password,
        full_name="Grace Hopper",
        terms_accepted=True,
        tenant_name=tenant_name,
        invitation_token=invitation_token,
    )
