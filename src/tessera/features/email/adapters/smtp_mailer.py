from __future__ import annotations

import asyncio
import email.message
import email.utils
from datetime import UTC, datetime

import aiosmtplib

from tessera.features.email.domain.errors import MailNotSent
from tessera.features.email.domain.message import EmailMessage


def build_mime(message: EmailMessage) -> email.message.EmailMessage:
    """multipart/alternative with the text part first, so clients prefer the HTML one."""
    mime = email.message.EmailMessage()
    mime["From"] = message.sender
    mime["To"] = ", ".join(message.to)
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.format_datetime(datetime.now(UTC))
    mime["Message-ID"] = message.message_id
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime


_FAILURES = (aiosmtplib.SMTPException, OSError)  # OSError covers TimeoutError too


def _not_sent(exc: BaseException, doing: str) -> MailNotSent:
    """An error that names the failure by kind and SMTP code only: never the server's text,
    which may echo a login, and never our credentials."""
    code = getattr(exc, "code", None)
    suffix = f", SMTP {code}" if isinstance(code, int) and code > 0 else ""
    return MailNotSent(f"The mail server {doing} ({type(exc).__name__}{suffix}).")


class SmtpMailer:
    """Sends through an SMTP server; STARTTLS only when configured (and then required: a
    server that does not offer it is a failure, never a fallback to plain text).

    `timeout` bounds each step of the conversation (connect, each command).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool,
        timeout: float = 15.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpMailer({self._host}:{self._port}, starttls={self._starttls})"

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                build_mime(message),
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=False,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except _FAILURES as exc:
            raise _not_sent(exc, "did not accept the message") from exc

    async def check(self) -> None:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=False,
            start_tls=self._starttls,
            timeout=self._timeout,
        )
        try:
            async with asyncio.timeout(self._timeout), client:
                await client.noop()
        except _FAILURES as exc:
            raise _not_sent(exc, "does not answer") from exc
