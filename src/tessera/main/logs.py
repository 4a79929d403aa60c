"""JSON lines on stdout for every logger, ours and the libraries', with secrets removed."""

from __future__ import annotations

import functools
import logging
import re
import sys
import unicodedata
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from tessera.shared.http.context import request_id_var

_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential", re.IGNORECASE
)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
REDACTED = "[REDACTED]"


# Where an address may be: an at sign (also the fullwidth and the small one) or `%40`.
_AT_SIGNS = re.compile("[@\uff20\ufe6b]|%40")
# What ends an address in running text (compared after NFKC, so fullwidth forms count too).
_DELIMITERS = frozenset("<>()[]{}\"'`,;:=/?&|\\")
_LABEL, _DOT, _AT, _END = range(4)


@functools.lru_cache(maxsize=4096)
def _kind(char: str) -> int:
    """What `char` is in an address, whatever its script: part of a label (any letter, digit,
    mark or symbol of any script), a dot (`.`, `。` and their fullwidth and halfwidth forms,
    as IDNA reads them), an at sign, or a character that ends the address."""
    folded = unicodedata.normalize("NFKC", char)
    if folded in (".", "\u3002"):
        return _DOT
    if folded == "@":
        return _AT
    if (
        not folded
        or folded in _DELIMITERS
        or char.isspace()
        or unicodedata.category(char) in ("Cc", "Zl", "Zp", "Zs")
    ):
        return _END
    return _LABEL


def _domain_end(text: str, start: int) -> int | None:
    """Where the domain beginning at `start` ends: two labels or more, in any script (a
    U-label or its `xn--` form alike), the last not all digits; None when there is none."""
    labels, last, end, size = 0, "", start, len(text)
    while True:
        label_end = end
        while label_end < size and _kind(text[label_end]) == _LABEL:
            label_end += 1
        if label_end == end:
            break
        labels, last, end = labels + 1, text[end:label_end], label_end
        if end + 1 < size and _kind(text[end]) == _DOT:
            end += 1
            continue
        break
    if labels < 2 or last.isdigit():
        return None
    return end


def _local_start(text: str, at: int, floor: int) -> int | None:
    """Where the local part ending at `at` begins (a quoted one included); None if empty."""
    if at - 1 > floor and text[at - 1] == '"':
        opening = text.rfind('"', floor, at - 1)
        return opening if opening >= 0 else None
    start = at
    while start > floor and _kind(text[start - 1]) in (_LABEL, _DOT):
        start -= 1
    return start if start < at else None


def mask_email(text: str) -> str:
    """Every email address in `text` as its local part's first character, `***` and the rest:
    `a***@example.com`. Any script counts: Unicode local parts, internationalised domains
    (U-labels and `xn--` forms), fullwidth letters, at signs and dots, and `%40`."""
    if _AT_SIGNS.search(text) is None:
        return text
    pieces: list[str] = []
    done = 0
    for at in _AT_SIGNS.finditer(text):
        if at.start() < done:
            continue
        end = _domain_end(text, at.end())
        start = None if end is None else _local_start(text, at.start(), done)
        if end is None or start is None:
            continue
        pieces += [text[done:start], text[start], "***", text[at.start() : end]]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _scrub_text(text: str) -> str:
    return mask_email(_URL_PASSWORD.sub(r"\1***@", _JWT.sub(REDACTED, text)))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, MutableMapping):
        return {k: REDACTED if _is_secret(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _is_secret(key: Any) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEYS.search(key))


def redact(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Last line of defence: secret-named fields, JWTs, URL passwords and emails never leave."""
    return {k: REDACTED if _is_secret(k) else _scrub(v) for k, v in event_dict.items()}


_LEADING = ("timestamp", "level", "logger", "message", "request_id", "tenant_id", "user_id")


def order_fields(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """The fields every line has come first, in the same order, the level in capitals."""
    if isinstance(event_dict.get("level"), str):
        event_dict["level"] = event_dict["level"].upper()
    leading = {k: event_dict.pop(k) for k in _LEADING if k in event_dict}
    return {**leading, **event_dict}


def add_request_id(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """The id of the request being served (`EdgeMiddleware` sets `request_id_var` once per
    request; binding it into structlog's context too would cost every request a bind and an
    unbind, logged or not)."""
    if "request_id" not in event_dict and (request_id := request_id_var.get()) is not None:
        event_dict["request_id"] = request_id
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at the time, so redirections are honoured."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        return None


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and the standard library through one JSON renderer on stdout."""
    shared = _shared_processors()
    structlog.configure(
        # the level check first: a filtered-out line costs a comparison, not the processors
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            redact,
            order_fields,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # chatty at INFO: taskiq's scheduler and receiver log every task they send or run (the
    # outbox sweep alone, 1,800 an hour); the jobs log what they did themselves
    quiet = (
        "sqlalchemy.engine",
        "aiosqlite",
        "asyncio",
        "httpx",
        "httpcore",
        "taskiq.cli.scheduler.run",
        "taskiq.receiver.receiver",
    )
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "granian", "_granian", "litestar", "alembic", "taskiq"):
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
