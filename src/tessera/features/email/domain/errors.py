from __future__ import annotations

from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput


class UnknownTemplate(InvalidInput):
    default_message = "There is no email template of that name."


class MailNotSent(DependencyUnavailable):
    """The mail system did not take the message; trying again later may succeed."""

    default_message = "The mail system did not accept the message."


class MissingTemplateVariable(InvalidInput):
    """The template needs a variable the request did not give; a bug in the caller."""

    default_message = "The email template needs a variable that was not given."
