from __future__ import annotations

from tessera.shared.domain.errors import Conflict, Forbidden, InvalidInput, Unauthenticated


class InvalidToken(Unauthenticated):
    default_message = "The token is invalid or has expired."


class InvalidCredentials(Unauthenticated):
    default_message = "Invalid email or password."


class WeakPassword(InvalidInput):
    """The password breaks the policy; `message` says which rule, `field` names the field."""

    default_message = "The password does not meet the policy."


class EmailAlreadyRegistered(Conflict):
    default_message = "An account with this email already exists."


class AccountInactive(Forbidden):
    default_message = "This account is not active."


class EmailNotVerified(Forbidden):
    default_message = "Verify your email address before signing in."


class InvalidLinkToken(InvalidInput):
    """A one-time link token that is unknown, expired or already used."""

    default_message = "The link is invalid, has expired or was already used."
