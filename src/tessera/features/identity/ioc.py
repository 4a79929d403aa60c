from __future__ import annotations

from dishka import Provider, Scope, alias, provide, provide_all
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.features.identity.adapters.argon2_hasher import Argon2PasswordHasher
from tessera.features.identity.adapters.challenges import (
    InMemoryChallengeStore,
    RedisChallengeStore,
)
from tessera.features.identity.adapters.jwt_tokens import JwtTokenIssuer
from tessera.features.identity.adapters.memory_sessions import InMemorySessionStore
from tessera.features.identity.adapters.mfa_tickets import InMemoryMfaTickets, RedisMfaTickets
from tessera.features.identity.adapters.pillow_images import PillowImageProcessor
from tessera.features.identity.adapters.redis_sessions import RedisSessionStore
from tessera.features.identity.adapters.sql_invitations import SqlInvitationRepository
from tessera.features.identity.adapters.sql_mfa import SqlMfaCredentials
from tessera.features.identity.adapters.sql_passkeys import SqlPasskeyRepository
from tessera.features.identity.adapters.sql_users import (
    SqlOneTimeTokens,
    SqlUserLookup,
    SqlUserRepository,
    user_search,
)
from tessera.features.identity.adapters.user_purged_job import UserPurgedJob
from tessera.features.identity.adapters.webauthn_ceremonies import WebAuthnCeremonies
from tessera.features.identity.application.accounts import IdentityConfig
from tessera.features.identity.application.authenticate import Authenticate
from tessera.features.identity.application.avatars import AvatarLink, ChangeAvatar, RemoveAvatar
from tessera.features.identity.application.change_password import ChangePassword
from tessera.features.identity.application.create_admin import CreateAdmin
from tessera.features.identity.application.delete_account import DeleteAccount
from tessera.features.identity.application.email_ceiling import EmailCeiling
from tessera.features.identity.application.forget_user_objects import ForgetUserObjects
from tessera.features.identity.application.forgot_password import ForgotPassword
from tessera.features.identity.application.get_profile import GetProfile
from tessera.features.identity.application.get_user import GetUser
from tessera.features.identity.application.invite_user import InviteUser
from tessera.features.identity.application.list_invitations import ListInvitations
from tessera.features.identity.application.list_sessions import ListSessions
from tessera.features.identity.application.list_users import ListUsers
from tessera.features.identity.application.log_in import LogIn
from tessera.features.identity.application.log_out import LogOut
from tessera.features.identity.application.log_out_everywhere import LogOutEverywhere
from tessera.features.identity.application.passkey_login import PasskeyLogIn, StartPasskeyLogIn
from tessera.features.identity.application.passkeys import (
    FinishPasskeyRegistration,
    ListPasskeys,
    RemovePasskey,
    StartPasskeyRegistration,
)
from tessera.features.identity.application.ports import (
    ChallengeStore,
    ImageProcessor,
    InvitationRepository,
    LiveSessions,
    MfaCredentials,
    MfaSecretBox,
    MfaTickets,
    OneTimeTokens,
    PasskeyCeremonies,
    PasskeyRepository,
    PasswordHasher,
    SessionStore,
    TokenIssuer,
    UserLookup,
    UserRepository,
    UserSearch,
)
from tessera.features.identity.application.prune_spent_links import PruneSpentLinks
from tessera.features.identity.application.purge_deleted_accounts import PurgeDeletedAccounts
from tessera.features.identity.application.refresh_tokens import RefreshTokens
from tessera.features.identity.application.register_user import RegisterUser
from tessera.features.identity.application.remove_user import RemoveUser
from tessera.features.identity.application.request_email_verification import (
    RequestEmailVerification,
)
from tessera.features.identity.application.reset_password import ResetPassword
from tessera.features.identity.application.revoke_invitation import RevokeInvitation
from tessera.features.identity.application.revoke_session import RevokeSession
from tessera.features.identity.application.totp_enrolment import (
    ConfirmTotp,
    DisableTotp,
    GetMfaStatus,
    RegenerateRecoveryCodes,
    SetUpTotp,
)
from tessera.features.identity.application.update_profile import UpdateProfile
from tessera.features.identity.application.update_user import UpdateUser
from tessera.features.identity.application.verify_email import VerifyEmail
from tessera.features.identity.application.verify_mfa import VerifyMfa
from tessera.main.settings import Settings, webauthn_relying_party
from tessera.shared.adapters.aes_gcm import TOTP_SECRETS
from tessera.shared.adapters.data_key import secret_box
from tessera.shared.adapters.redis_batching import CommandBatcher
from tessera.shared.application.ports import Cache, Clock
from tessera.shared.application.tenant_scope import TenantScope
from tessera.shared.domain.caller import Principal
from tessera.shared.http.caller import require_caller
from tessera.shared.http.di import ConnectionScope


class IdentityProvider(Provider):
    """Identity in every mode; the session store comes from the mode's provider."""

    users = provide(SqlUserRepository, provides=UserRepository, scope=Scope.REQUEST)

    @provide(scope=Scope.REQUEST)
    def user_search(
        self,
        engine: AsyncEngine,
        factory: async_sessionmaker[AsyncSession],
        scope: TenantScope,
    ) -> UserSearch:
        """Committed rows, read outside the request's unit of work (decision record 0015)."""
        return user_search(engine, factory, scope)

    invitations = provide(
        SqlInvitationRepository, provides=InvitationRepository, scope=Scope.REQUEST
    )
    one_time = provide(SqlOneTimeTokens, provides=OneTimeTokens, scope=Scope.REQUEST)
    mfa = provide(SqlMfaCredentials, provides=MfaCredentials, scope=Scope.REQUEST)
    passkeys = provide(SqlPasskeyRepository, provides=PasskeyRepository, scope=Scope.REQUEST)
    use_cases = provide_all(
        RegisterUser,
        LogIn,
        RefreshTokens,
        LogOut,
        LogOutEverywhere,
        ListSessions,
        RevokeSession,
        RequestEmailVerification,
        VerifyEmail,
        ForgotPassword,
        ResetPassword,
        ChangePassword,
        UpdateProfile,
        DeleteAccount,
        PruneSpentLinks,
        PurgeDeletedAccounts,
        ListUsers,
        GetUser,
        UpdateUser,
        RemoveUser,
        CreateAdmin,
        InviteUser,
        ListInvitations,
        RevokeInvitation,
        ChangeAvatar,
        RemoveAvatar,
        AvatarLink,
        SetUpTotp,
        ConfirmTotp,
        GetMfaStatus,
        RegenerateRecoveryCodes,
        DisableTotp,
        VerifyMfa,
        StartPasskeyRegistration,
        FinishPasskeyRegistration,
        ListPasskeys,
        RemovePasskey,
        StartPasskeyLogIn,
        PasskeyLogIn,
        scope=Scope.REQUEST,
    )
    purged_objects = provide_all(ForgetUserObjects, UserPurgedJob, scope=Scope.REQUEST)
    # Every authenticated request needs it and it holds no request state: built once.
    authenticate = provide(Authenticate, scope=Scope.APP)
    # The most frequent read: a cache hit should cost no request-scoped object at all.
    user_lookup = provide(SqlUserLookup, provides=UserLookup, scope=Scope.APP)
    get_profile = provide(GetProfile, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def email_ceiling(self, cache: Cache, config: IdentityConfig) -> EmailCeiling:
        return EmailCeiling(cache, config)

    @provide(scope=Scope.APP)
    def mfa_secrets(self, settings: Settings) -> MfaSecretBox:
        """TOTP secrets sealed like webhook secrets, under a label of their own."""
        return secret_box(
            settings.data_encryption_key,
            uses_sqlite=settings.uses_sqlite,
            data_dir=settings.data_dir,
            purpose=TOTP_SECRETS,
            feature="Two-factor sign-in is",
        )

    @provide(scope=Scope.APP)
    def images(self) -> ImageProcessor:
        """Avatars: Pillow in worker threads, two images at a time."""
        return PillowImageProcessor()

    @provide(scope=Scope.APP)
    def hasher(self, settings: Settings) -> PasswordHasher:
        """argon2-cffi's default profile (t=3, m=64 MiB, p=4), one hash per core at a time."""
        return Argon2PasswordHasher(priority=settings.password_hash_priority)

    @provide(scope=Scope.APP)
    def config(self, settings: Settings) -> IdentityConfig:
        return IdentityConfig(
            access_ttl_seconds=settings.access_token_ttl_seconds,
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            idle_ttl_seconds=settings.session_idle_ttl_seconds,
            require_verified_email=settings.require_email_verification,
            public_base_url=settings.public_base_url.rstrip("/"),
            account_retention_days=settings.account_retention_days,
            sessions_per_user_max=settings.sessions_per_user_max,
            email_per_account_per_hour=settings.email_per_account_per_hour,
            known_device_seconds=settings.known_device_days * 86400,
        )

    @provide(scope=Scope.APP)
    def ceremonies(self, settings: Settings) -> PasskeyCeremonies:
        """The relying party's id and origins, validated and defaulted by the settings."""
        rp_id, origins = webauthn_relying_party(settings)
        return WebAuthnCeremonies(rp_id=rp_id, rp_name=settings.webauthn_rp_name, origins=origins)

    @provide(scope=Scope.APP)
    def tokens(self, settings: Settings, clock: Clock) -> TokenIssuer:
        return JwtTokenIssuer(
            settings.jwt_secret_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            clock=clock.now,
        )

    @provide(scope=Scope.REQUEST)
    def principal(self, connection: ConnectionScope) -> Principal:
        """The caller `CallerMiddleware` settled for this request; 401 without a valid
        bearer token of a live session, 503 when the session store is down."""
        return require_caller(connection)  # type: ignore[arg-type]


class RedisSessionsProvider(Provider):
    """The store, under both of its ports: `SessionStore` may be decorated (revocations
    are announced), `LiveSessions`, every authenticated request's touch, never is."""

    scope = Scope.APP

    @provide
    def sessions(self, batcher: CommandBatcher, settings: Settings) -> RedisSessionStore:
        return RedisSessionStore(batcher, prefix=settings.redis_key_prefix)

    store = alias(source=RedisSessionStore, provides=SessionStore)
    live = alias(source=RedisSessionStore, provides=LiveSessions)

    @provide
    def mfa_tickets(self, batcher: CommandBatcher, settings: Settings) -> MfaTickets:
        return RedisMfaTickets(batcher, prefix=settings.redis_key_prefix)

    @provide
    def challenges(self, batcher: CommandBatcher, settings: Settings) -> ChallengeStore:
        return RedisChallengeStore(batcher, prefix=settings.redis_key_prefix)


class MemorySessionsProvider(Provider):
    """As `RedisSessionsProvider`, in memory."""

    scope = Scope.APP

    @provide
    def sessions(self, clock: Clock, cache: Cache) -> InMemorySessionStore:
        return InMemorySessionStore(clock_ms=lambda: clock.now().timestamp() * 1000, cache=cache)

    store = alias(source=InMemorySessionStore, provides=SessionStore)
    live = alias(source=InMemorySessionStore, provides=LiveSessions)

    @provide
    def mfa_tickets(self, clock: Clock) -> MfaTickets:
        return InMemoryMfaTickets(clock=lambda: clock.now().timestamp())

    @provide
    def challenges(self) -> ChallengeStore:
        return InMemoryChallengeStore()
