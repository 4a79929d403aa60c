"""The id of the request being served, for envelopes and log lines."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def current_request_id() -> str:
    return request_id_var.get() or "req-none"


def choose_request_id(incoming: str | None) -> str:
    """Reuse the caller's id when it is short and safe to echo, else make one."""
    if incoming and _SAFE_ID.fullmatch(incoming):
        return incoming
    return f"req-{os.urandom(16).hex()}"
