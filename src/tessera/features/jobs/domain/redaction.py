"""What operators see of a job: everything but its secrets.

An email job's payload holds its one-time link (`…/reset-password?token=…`) in clear until
the job is done, and a dead job keeps it for replay. Whatever shows a job to a person
shows it through `redacted`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from tessera.features.jobs.domain.job import DeadJob

REDACTED = "[REDACTED]"
_SECRET_NAME = r"token|secret|pass(?:word|wd)?|signature|api[_-]?key|credential"  # noqa: S105
_SECRET_KEY = re.compile(rf"{_SECRET_NAME}|authorization|cookie", re.IGNORECASE)
# A URL parameter (query or fragment) with a secret's name (or a short one that usually is
# one: `sig`, `code`, `otp`): its value goes.
_SECRET_PARAMETER = re.compile(
    rf"([?&#;](?:[^=&#\s]*?(?:{_SECRET_NAME})[^=&#\s]*|sig|code|otp)=)[^&#\s\"'<>]+",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+")


def redacted(value: Any) -> Any:
    """`value` (plain JSON) with every field named like a secret, every URL parameter named
    like one and every JWT replaced by `[REDACTED]`."""
    if isinstance(value, str):
        return _SECRET_PARAMETER.sub(rf"\1{REDACTED}", _JWT.sub(REDACTED, value))
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_KEY.search(key) else redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


def shown(dead: DeadJob) -> DeadJob:
    """A dead job as an operator may see it: its payload and error without secrets."""
    job = msgspec.structs.replace(dead.job, data=redacted(dead.job.data))
    return msgspec.structs.replace(dead, job=job, last_error=redacted(dead.last_error))
