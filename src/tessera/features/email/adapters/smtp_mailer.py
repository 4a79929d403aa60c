from __future__ import annotations

import asyncio
import email.message
import email.utils
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

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


_FAILURES = (aiosmtplib.SMTPException, OSError)  # OSError covers TimeoutError and SSLError
Step = Literal["connect", "starttls", "login", "send"]
TLS_NOT_OFFERED = (
    "TLS not offered: the mail server does not offer STARTTLS, and SMTP_STARTTLS=true refuses "
    "to send in clear; use a server that offers it, or set SMTP_STARTTLS=false for a "
    "development server on a trusted network."
)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f" (SMTP {code})" if isinstance(code, int) and code > 0 else ""


def _cause(exc: BaseException, step: Step) -> str:
    """What went wrong, in words an operator can act on, naming the settings to look at.

    By kind, step and SMTP code only: never the server's text, which may echo a login, never
    our credentials, addresses or the recipient."""
    chain = _chain(exc)
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or tls.reason or type(tls).__name__
        return (
            f"TLS handshake failed ({reason}): the mail server's certificate must be valid "
            "for SMTP_HOST and trusted by this machine."
        )
    if isinstance(exc, TimeoutError):
        return f"timed out: the mail server did not answer in time (during {step})."
    by_step = {"connect": _connect_cause, "login": _login_cause, "send": _send_cause}
    if step in by_step:
        return by_step[step](exc, chain)
    return f"STARTTLS failed ({type(exc).__name__}){_code(exc)}."


def _connect_cause(exc: BaseException, chain: list[BaseException]) -> str:
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused: nothing accepts connections at SMTP_HOST:SMTP_PORT."
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "host not found: SMTP_HOST does not resolve."
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return f"connection refused by the mail server{_code(exc)}."
    return f"cannot connect to SMTP_HOST:SMTP_PORT ({type(chain[-1]).__name__})."


def _login_cause(exc: BaseException, _chain: list[BaseException]) -> str:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"authentication refused{_code(exc)}: check SMTP_USERNAME and SMTP_PASSWORD."
    if not isinstance(exc, aiosmtplib.SMTPResponseException):
        return "authentication refused: the mail server offers no AUTH method we can use."
    return f"authentication failed{_code(exc)}."


def _send_cause(exc: BaseException, _chain: list[BaseException]) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPRecipientRefused)):
        return f"recipient refused{_code(exc)}: the mail server would not take the address."
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"sender refused{_code(exc)}: check EMAIL_FROM."
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return f"message refused{_code(exc)}."
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return "the mail server hung up before it took the message."
    return f"the mail server failed ({type(exc).__name__}){_code(exc)}."


class SmtpMailer:
    """Sends through an SMTP server; STARTTLS only when configured (and then required: a
    server that does not offer it is a failure, never a fallback to plain text).

    `timeout` bounds each step of the conversation (connect, each command). A failure is
    `MailNotSent` whose message names its cause: connection refused, TLS not offered, TLS
    handshake failed, authentication refused, recipient refused, timed out, ...
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
        mime = build_mime(message)

        async def deliver(client: aiosmtplib.SMTP) -> None:
            await client.send_message(mime)

        await self._converse(deliver, deadline=None)

    async def check(self) -> None:
        async def noop(client: aiosmtplib.SMTP) -> None:
            await client.noop()

        await self._converse(noop, deadline=self._timeout)

    async def _converse(
        self, work: Callable[[aiosmtplib.SMTP], Awaitable[None]], *, deadline: float | None
    ) -> None:
        """Connect, STARTTLS (when configured), log in (when configured), `work`, QUIT;
        within `deadline` seconds in all, when given."""
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=False,
            start_tls=False,  # below, so that each failure is told apart
            timeout=self._timeout,
        )
        step: Step = "connect"
        try:
            async with asyncio.timeout(deadline), client:
                if self._starttls:
                    step = "starttls"
                    await client.ehlo()
                    if not client.supports_extension("starttls"):
                        raise MailNotSent(TLS_NOT_OFFERED)
                    await client.starttls()
                if self._username is not None:
                    step = "login"
                    await client.login(self._username, self._password or "")
                step = "send"
                await work(client)
        except _FAILURES as exc:
            raise MailNotSent(_cause(exc, step)) from exc
