from __future__ import annotations

import asyncio
import email.utils
import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import structlog

from tessera.features.email.adapters.smtp_mailer import build_mime
from tessera.features.email.domain.errors import MailNotSent
from tessera.features.email.domain.message import EmailMessage

_log = structlog.stdlib.get_logger("tessera.email")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class EmlFolderMailer:
    """The embedded mode's mail system: each message becomes one `.eml` file in `folder`.

    A file appears whole or not at all (written aside, flushed to disk, then renamed), so a
    reader that lists `*.eml` never sees half a message. The MIME is the one SMTP would send.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, message: EmailMessage) -> None:
        try:
            path = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise MailNotSent(f"The outbox folder is not writable ({type(exc).__name__}).") from exc
        _log.info(
            "email written",
            message_id=message.message_id,
            to=[mask_address(address) for address in message.to],
            file=path.name,
        )

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._probe)
        except OSError as exc:
            raise MailNotSent(f"The outbox folder is not writable ({type(exc).__name__}).") from exc

    def _write(self, message: EmailMessage) -> Path:
        self._folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        safe_id = _UNSAFE.sub("_", message.message_id.strip("<>"))[:100]
        path = self._folder / f"{stamp}-{safe_id}-{secrets.token_hex(3)}.eml"
        data = bytes(build_mime(message))
        descriptor, temporary = tempfile.mkstemp(dir=self._folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def _probe(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self._folder, prefix=".probe-"):
            pass


def mask_address(address: str) -> str:
    """`alice@example.com` (or `Alice <alice@example.com>`) as `a***@example.com`."""
    _name, bare = email.utils.parseaddr(address)
    local, at, domain = bare.partition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"
