"""Ports of the identity feature: users, passwords, tokens, sessions, one-time links."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec

from tessera.features.identity.domain.avatar import AvatarFormat
from tessera.features.identity.domain.invitation import Invitation
from tessera.features.identity.domain.mfa import TotpCredential
from tessera.features.identity.domain.passkeys import Passkey
from tessera.features.identity.domain.sessions import (
    DeviceMemory,
    IssuedToken,
    Rotation,
    SessionRecord,
    TokenClaims,
    TokenType,
)
from tessera.features.identity.domain.user import User
from tessera.shared.application.ports import Counter
from tessera.shared.application.rate_limits import RoleLimits
from tessera.shared.application.secret_box import SecretBox
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.pagination import Page, PageRequest


class PasswordHasher(Protocol):
    """argon2id. Hashing and verifying run off the event loop, a bounded number at a time,
    so a storm of logins queues here instead of stalling other requests."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches; False on mismatch or a malformed hash (never raises
        for those)."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        ...

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real verification costs, for unknown emails (no timing oracle)."""
        ...


class TokenIssuer(Protocol):
    """Signs and verifies JWTs (HS256 only). `issue` is deterministic: the same claims give
    the same token, which lets a refresh inside the grace window return the same pair."""

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        tenant_id: uuid.UUID,
        role: Role,
        token_type: TokenType,
        token_id: str,
        issued_at: datetime,
        ttl_seconds: int,
    ) -> IssuedToken: ...

    def verify(self, token: str, *, expected_type: TokenType) -> TokenClaims:
        """The claims of a valid token of `expected_type`; raises `InvalidToken` otherwise
        (bad signature, other algorithm, missing claim, wrong issuer or audience, expired
        beyond the leeway, not yet valid, or the other token type)."""
        ...


class UserLookup(Protocol):
    """One account read on its own, outside the request's unit of work, in the tenant
    given. For reads that usually need no database at all (a cached profile): they take
    a database session only when they do read."""

    async def get(self, user_id: uuid.UUID, *, tenant_id: uuid.UUID) -> User | None: ...


class Touched(msgspec.Struct, frozen=True):
    """A live session's caller, this window's count of the caller's requests in the group
    of its current role (with this one) when the touch was asked to count, and the caller's
    cached profile (`profile_key`) when the cache holds one."""

    caller: Principal
    requests: Counter | None = None
    profile: bytes | None = None


class LiveSessions(Protocol):
    """The one session operation every authenticated request makes (`SessionStore`'s
    adapters implement it), on its own port so that nothing decorating the store's other
    operations sits in that path."""

    async def touch(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        now: datetime,
        idle_seconds: int,
        count_in: RoleLimits | None = None,
    ) -> Touched | None:
        """Who the live session speaks for (its current tenant and role), its idle expiry
        pushed back (capped by the absolute expiry); None when it has ended. Given
        `count_in`, the request is also counted against the user in the group of the
        session's role (`RateLimitGroup.key` of the user id as a hash tag, `{<user_id>}`),
        atomically with the check and in the same step; an ended session counts nowhere.
        The caller's cached profile (the `Cache` entry under `profile_key`) comes with it,
        read in the same step, so `GET /users/me` makes one round trip, not two. Every
        authenticated request calls it, so it answers with no more than that;
        `SessionStore.list` reads sessions whole."""
        ...


class SessionStore(Protocol):
    """Live sessions (Redis `session:user:<user_id>:<session_id>` hashes, or memory), and
    the devices each user signed in from lately.

    A session disappears at its absolute expiry and after the idle time without use; every
    read that finds it alive counts as use (sliding idle expiry, never past the absolute
    one). Refresh tokens are kept only as hashes. All operations are atomic.

    A device is an (IP address, user agent), None and "" being the same. A sign-in
    (`create`) remembers its device for `DeviceMemory.seconds`, after its session has ended
    too, so that signing in again after a logout is no "new sign-in". Forgetting, decided
    per event: `revoke_all` (log out everywhere, password reset, deactivation, deletion) and
    a refresh-token reuse (`rotate`) forget the user's devices, since the account may be in
    other hands or is closing: its next sign-in from anywhere is reported. A password
    change keeps the device it was made from (`revoke_all` with `keep`). A logout, `revoke`
    and the cap forget nothing: the user is tidying up, not under attack.
    """

    async def create(
        self,
        session: SessionRecord,
        *,
        refresh_hash: str,
        idle_seconds: int,
        max_sessions: int,
        devices: DeviceMemory,
    ) -> Sequence[uuid.UUID]:
        """Store the session and remember its device as seen at its `last_seen_at` (a later
        sighting is never moved back); devices seen more than `devices.seconds` before it
        are forgotten, and the least recently seen (then the lowest fingerprint) past
        `devices.most`. If the user then has more than `max_sessions` live sessions, the
        oldest others (by `created_at`, then id) end until `max_sessions` remain; the new
        one never does. Returns the ids of the sessions it ended."""
        ...

    async def knows_device(
        self,
        user_id: uuid.UUID,
        *,
        ip_address: str | None,
        user_agent: str | None,
        since: datetime,
    ) -> bool:
        """Whether the user signed in from this device at `since` or later (and it was not
        forgotten since). One look-up, however many sessions and devices the user has;
        reading is not use."""
        ...

    async def rotate(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        presented_hash: str,
        new_hash: str,
        now: datetime,
        grace_seconds: int,
        idle_seconds: int,
    ) -> Rotation:
        """Replace the current refresh token if `presented_hash` is it (ROTATED, generation
        + 1, rotated_at = now). If it is the token replaced last, less than `grace_seconds`
        ago, change nothing (GRACE): two concurrent refreshes rotate once. Any other token
        revokes the whole session and forgets the user's devices (REUSED: theft is
        assumed). MISSING when there is no live session."""
        ...

    async def list(self, user_id: uuid.UUID, *, now: datetime) -> Sequence[SessionRecord]:
        """The user's live sessions, newest first."""
        ...

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        """End one session; False when it did not exist."""
        ...

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
        """End every session of the user except `keep`, and forget the user's devices
        except the one of `keep` (if it still lives); returns how many sessions ended."""
        ...

    async def set_role(self, user_id: uuid.UUID, role: Role) -> None:
        """A role change applies to the user's live sessions at once."""
        ...

    async def mark_mfa(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        """The session has now proven a second factor (the user just enrolled from it): it
        counts as MFA and no longer needs enrolment, from its next request on. False when it
        is not alive."""
        ...


class UserRepository(Protocol):
    """Live (not deleted) users, in the caller's unit of work; only `deleted_before` and
    `purge` see soft-deleted ones."""

    async def add(self, user: User) -> None:
        """Raises `EmailAlreadyRegistered` when a live user has the email already."""
        ...

    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """`email` already normalised (lower-case)."""
        ...

    async def save(self, user: User) -> None:
        """Write the fields the entity changed."""
        ...

    async def deleted_before(
        self, moment: datetime, *, limit: int
    ) -> Mapping[uuid.UUID, uuid.UUID]:
        """Up to `limit` users soft-deleted strictly before `moment`, longest-deleted first,
        as user id -> tenant id."""
        ...

    async def purge(self, user_ids: Collection[uuid.UUID]) -> Collection[uuid.UUID]:
        """Delete for good the rows of those of these users that are soft-deleted (a live
        user is never touched); returns the ids removed."""
        ...


@dataclass(frozen=True, slots=True)
class UserFilter:
    """Which live users a list shows; every field that is None does not filter."""

    tenant_id: uuid.UUID | None = None
    is_active: bool | None = None
    is_verified: bool | None = None
    role: Role | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    search: str | None = None  # case-insensitive substring of email or full name, literal


USER_SORT_FIELDS = ("created_at", "email", "full_name")


class UserSearch(Protocol):
    """Lists of live (not deleted) users for administrators."""

    async def find(self, where: UserFilter, page: PageRequest) -> Page[User]:
        """One page of the live users matching `where`, ordered by `page.sort` (one of
        `USER_SORT_FIELDS`) and `page.order`, ties broken by id; `total_items` counts every
        match. `search` matches literally: `%`, `_` and `\\` are not wildcards."""
        ...


class TenantDirectory(Protocol):
    """The part of tenancy identity needs: a new organisation for a new user, and the name
    of an existing one (for invitations)."""

    async def create(self, *, tenant_id: uuid.UUID, name: str) -> None: ...

    async def name(self, tenant_id: uuid.UUID) -> str | None:
        """The tenant's name; None when there is no such tenant."""
        ...

    async def requires_mfa(self, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant's setting `mfa_required` is on (False for no such tenant)."""
        ...


class OneTimeTokens(Protocol):
    """Single-use links (email verification, password reset), stored as SHA-256 hashes."""

    async def issue(
        self, *, user: User, purpose: str, token_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        """Store a new token; earlier unused tokens of the user for `purpose` stop working."""
        ...

    async def prune(self, *, before: datetime) -> int:
        """Forget tokens that expired or were used before `before`; returns how many."""
        ...

    async def forget_users(self, user_ids: Collection[uuid.UUID]) -> int:
        """Delete every token of these users, spent or not; returns how many."""
        ...

    async def consume(self, *, purpose: str, token_hash: str, now: datetime) -> uuid.UUID | None:
        """Mark the token used and return its user id; None when unknown, expired or used.
        Two concurrent consumptions of one token: exactly one gets the user id."""
        ...


class InvitationRepository(Protocol):
    """Invitations in the request's unit of work; the caller commits."""

    async def add(self, invitation: Invitation) -> None: ...

    async def get(self, invitation_id: uuid.UUID) -> Invitation | None: ...

    async def by_token_hash(self, token_hash: str) -> Invitation | None: ...

    async def list(
        self, page: PageRequest, *, tenant_id: uuid.UUID | None, status: str | None, now: datetime
    ) -> Page[Invitation]:
        """One page sorted by `page.sort` (`created_at`, `email` or `expires_at`), ties by id;
        `tenant_id` None means every tenant; `status` filters on `Invitation.status(now)`."""
        ...

    async def revoke_pending(self, *, tenant_id: uuid.UUID, email: str, now: datetime) -> int:
        """Revoke the tenant's pending invitations of `email` (a new one replaces them)."""
        ...

    async def accept(self, invitation_id: uuid.UUID, *, now: datetime) -> bool:
        """Mark it accepted if it is still pending at `now`; False when it no longer is.
        Two concurrent acceptances of one invitation: exactly one gets True."""
        ...

    async def save(self, invitation: Invitation) -> None: ...


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """An avatar decoded and encoded again: only pixels, no metadata (EXIF, ICC, text)."""

    data: bytes
    format: AvatarFormat
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return self.format.content_type


class ImageProcessor(Protocol):
    async def normalise(self, data: bytes) -> ProcessedImage:
        """The image re-encoded in its own format (JPEG, PNG or WebP, decided by the magic
        bytes), upright, without metadata. Raises `InvalidImage` for any other or broken
        data and `AvatarTooManyPixels` beyond the limit, both before decoding any pixel
        when the header tells; CPU work runs off the event loop."""
        ...


class PasskeyRepository(Protocol):
    """Passkeys in the request's unit of work (the caller commits), in the request's tenant
    scope. A credential id is unique across every tenant."""

    async def add(self, passkey: Passkey) -> None:
        """Raises `PasskeyAlreadyRegistered` when the credential id is stored already."""
        ...

    async def get(self, passkey_id: uuid.UUID) -> Passkey | None: ...

    async def of_user(self, user_id: uuid.UUID) -> Sequence[Passkey]:
        """The user's passkeys, oldest first (then by id)."""
        ...

    async def by_credential_id(self, credential_id: bytes) -> Passkey | None: ...

    async def record_use(
        self, passkey_id: uuid.UUID, *, seen_count: int, sign_count: int, used_at: datetime
    ) -> bool:
        """Store the new sign count and `last_used_at`, only if the stored count is still
        `seen_count` (compare and set): of two sign-ins racing with one counter, one
        gets True. False when the passkey is gone too."""
        ...

    async def remove(self, passkey_id: uuid.UUID) -> bool:
        """False when there was no such passkey."""
        ...


class ChallengeStore(Protocol):
    """WebAuthn challenges: each kept for `ttl_seconds` under a purpose (`login`,
    `register:<user id>`) and an id, and taken at most once. Redis (`GETDEL`) or memory;
    `DependencyUnavailable` when the store cannot be reached."""

    async def put(
        self, purpose: str, challenge_id: str, challenge: bytes, *, ttl_seconds: int
    ) -> None: ...

    async def take(self, purpose: str, challenge_id: str) -> bytes | None:
        """The challenge, removed atomically: of two concurrent takes one gets it. None when
        it is unknown, expired, taken already, or was put under another purpose."""
        ...


@dataclass(frozen=True, slots=True)
class NewCredential:
    """What a verified registration leaves to store."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str | None


@dataclass(frozen=True, slots=True)
class AssertionCheck:
    """A verified sign-in assertion's credential id and the authenticator's sign count."""

    credential_id: bytes
    sign_count: int


class PasskeyCeremonies(Protocol):
    """The WebAuthn ceremonies for the relying party the settings name (id, name, allowed
    origins). Options are plain JSON (`PublicKeyCredentialCreationOptionsJSON`,
    `...RequestOptionsJSON`); credentials are what the browser's `toJSON()` gives."""

    def creation_options(
        self,
        *,
        challenge: bytes,
        user_handle: bytes,
        user_name: str,
        display_name: str,
        exclude: Sequence[bytes],
        timeout_ms: int,
    ) -> dict[str, Any]:
        """A discoverable credential (resident key required), user verification required,
        none of `exclude` again."""
        ...

    def verify_registration(
        self, credential: Mapping[str, Any], *, challenge: bytes
    ) -> NewCredential:
        """Raises `InvalidPasskeyRegistration` for anything that does not verify: other
        challenge, origin or relying party, no user verification, a malformed credential."""
        ...

    def request_options(self, *, challenge: bytes, timeout_ms: int) -> dict[str, Any]:
        """No `allowCredentials`: the authenticator offers its discoverable credentials."""
        ...

    def credential_id(self, credential: Mapping[str, Any]) -> bytes:
        """The credential id an assertion names; `PasskeyRejected` when malformed."""
        ...

    def verify_assertion(
        self,
        credential: Mapping[str, Any],
        *,
        challenge: bytes,
        public_key: bytes,
        user_handle: bytes,
    ) -> AssertionCheck:
        """Signature, challenge, origin, relying party, user presence and verification, and
        the user handle (when the authenticator gives one) checked; `PasskeyRejected`
        otherwise. The sign counter is not judged here (`looks_cloned` is the rule)."""
        ...


class MfaSecretBox(SecretBox, Protocol):
    """The secret box TOTP secrets are sealed with (`DATA_ENCRYPTION_KEY`, a label of its
    own, so nothing sealed for another purpose opens as a TOTP secret)."""


class MfaCredentials(Protocol):
    """Users' TOTP credentials and recovery codes, in the request's unit of work (the caller
    commits). One credential per user: pending until confirmed, then enabled."""

    async def get(self, user_id: uuid.UUID) -> TotpCredential | None: ...

    async def set_pending(
        self, *, user_id: uuid.UUID, tenant_id: uuid.UUID, sealed_secret: str, now: datetime
    ) -> bool:
        """Store an unconfirmed secret, replacing a pending one; False, changing nothing,
        when the user's TOTP is enabled."""
        ...

    async def enable(
        self, user_id: uuid.UUID, *, step: int, code_hashes: Collection[str], now: datetime
    ) -> bool:
        """Turn the pending credential on, with `step` as its last used step, and make
        `code_hashes` the user's recovery codes (any earlier ones go). False, changing
        nothing, when there is no pending credential (none, or already enabled)."""
        ...

    async def use_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record `step` as the last one a code was accepted for, if it is later than the
        last; False otherwise (a replay). Atomic across processes: of two concurrent uses of
        one step, exactly one gets True."""
        ...

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, *, now: datetime) -> bool:
        """Spend an unused recovery code of the user; False when it is not one. Of two
        concurrent uses of one code, exactly one gets True."""
        ...

    async def replace_recovery_codes(
        self, user_id: uuid.UUID, *, tenant_id: uuid.UUID, code_hashes: Collection[str]
    ) -> None:
        """The user's recovery codes become `code_hashes`; every earlier one stops working."""
        ...

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int: ...

    async def remove(self, user_id: uuid.UUID) -> bool:
        """Forget the user's credential and recovery codes; False when there was none."""
        ...


@dataclass(frozen=True, slots=True)
class MfaTicket:
    """Who proved their password and must now give a second factor to sign in."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str  # the login throttle's key


class MfaTickets(Protocol):
    """Short-lived, single-use sign-in tickets, kept by the hash of the ticket (Redis, or
    memory in embedded mode). Shared by every process."""

    async def put(self, ticket_hash: str, ticket: MfaTicket, *, ttl_seconds: float) -> None: ...

    async def peek(self, ticket_hash: str) -> MfaTicket | None:
        """The live ticket, left in place; None when unknown, expired or taken."""
        ...

    async def take(self, ticket_hash: str) -> MfaTicket | None:
        """The live ticket, removed atomically: of two concurrent takes, exactly one gets
        it. None when unknown, expired or taken already."""
        ...
