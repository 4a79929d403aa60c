from __future__ import annotations

from tessera.shared.domain.errors import Conflict, Forbidden, NotFound


class FlagNotFound(NotFound):
    default_message = "No feature flag has this key."


class FlagAlreadyExists(Conflict):
    default_message = "A feature flag with this key already exists."


class AdminOnly(Forbidden):
    default_message = "Only an admin may manage feature flags."
