"""A real SMTP server for tests (aiosmtpd in its own thread), with behaviour a test can steer.

    with FakeSmtpServer() as smtp:
        mailer = SmtpMailer(smtp.host, smtp.port, starttls=False)
        smtp.refuse_with = "451 4.3.0 try later"   # every DATA is answered with this
        smtp.accept_delay = 2.0                    # wait before answering 250 to DATA
        smtp.refuse_recipients_with = "550 5.1.1 no such user"   # every RCPT TO
    FakeSmtpServer(starttls=TestAuthority(tmp_path).server_context())   # offers STARTTLS

Only messages the server acknowledged with 250 are kept in `messages`: a client that hangs
up while the server waits before answering leaves nothing behind, as with a real MTA.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import ssl
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class FakeSmtpServer:
    """SMTP on 127.0.0.1 at a free port. With `credentials`, AUTH (PLAIN, LOGIN) is offered
    over plain text and only that login and password pass it; with `starttls`, STARTTLS is
    offered with that server context (`tests.fakes.tls`). Attributes a test may read or
    change at any time:

    - `messages`: the acknowledged messages, parsed with `email.policy.default`;
    - `attempts`: `time.monotonic()` of every DATA the server answered or began to, refused
      or not;
    - `refuse_with`: an SMTP reply (`"550 5.7.1 rejected"`) given to DATA instead of 250;
    - `refuse_recipients_with`: an SMTP reply given to every RCPT TO instead of 250;
    - `accept_delay`: seconds to wait before answering 250 to DATA;
    - `in_data`: set when a DATA command is being handled (a test clears it to reuse it).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
    ) -> None:
        self.messages: list[EmailMessage] = []
        self.attempts: list[float] = []
        self.refuse_with: str | None = None
        self.refuse_recipients_with: str | None = None
        self.accept_delay = 0.0
        self.in_data = threading.Event()
        self._controller = _Controller(_Handler(self), credentials, starttls)

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> FakeSmtpServer:
        """Listens; after a `stop()`, on the same port as before (a server coming back)."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Drops open connections and stops; returns within a few seconds whatever happens."""
        self._controller.stop()

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def wait_for_messages(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - one number reads better in tests
    ) -> list[EmailMessage]:
        """The messages once at least `count` have arrived; AssertionError after `timeout`.

        Polls without blocking the event loop, so the client under test keeps running.
        """
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            await asyncio.sleep(0.01)
        return list(self.messages)


class _Handler:
    def __init__(self, fake: FakeSmtpServer) -> None:
        self._fake = fake

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self._fake.refuse_recipients_with is not None:
            return self._fake.refuse_recipients_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fake = self._fake
        fake.attempts.append(time.monotonic())
        fake.in_data.set()
        if fake.refuse_with is not None:
            return fake.refuse_with
        if fake.accept_delay:
            # aiosmtpd cancels this handler when the client hangs up; the check below covers
            # a transport that is closing but not yet reported lost.
            await asyncio.sleep(fake.accept_delay)
        if server.transport is None or server.transport.is_closing():
            return "421 4.4.2 Connection lost before the message was accepted"
        # stored as a mailbox would: with the wire's CRLF line ends turned into LF
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        fake.messages.append(message)
        return "250 2.0.0 OK: queued"


def _authenticator(credentials: tuple[str, str]) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        known = isinstance(data, LoginPassword) and (
            (data.login.decode(), data.password.decode()) == credentials
        )
        # handled=False: aiosmtpd answers the 235 or 535 itself
        return AuthResult(success=known, handled=False)

    return authenticate


class _Controller(Controller):
    """Binds port 0 and learns the port (no race for a "free" one); a restart listens on the
    same port again; stop never hangs."""

    def __init__(
        self,
        handler: _Handler,
        credentials: tuple[str, str] | None,
        starttls: ssl.SSLContext | None,
    ) -> None:
        options: dict[str, Any] = {}
        if credentials is not None:
            options = {"authenticator": _authenticator(credentials), "auth_require_tls": False}
        if starttls is not None:
            options |= {"tls_context": starttls, "require_starttls": False}
        super().__init__(
            handler, hostname="127.0.0.1", port=0, server_hostname="smtp.test", **options
        )
        self._sessions: list[SMTP] = []

    def start(self) -> None:
        if self.loop.is_closed():  # stopped before: aiosmtpd closed its loop
            self.loop = asyncio.new_event_loop()
        super().start()

    def factory(self) -> SMTP:
        session = SMTP(self.handler, **self.SMTP_kwargs)
        self._sessions = [s for s in self._sessions if s.transport is not None] + [session]
        return session

    def _create_server(self) -> Any:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def stop(self, no_assert: bool = False) -> None:
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(self._drop_connections)
            self.loop.call_soon_threadsafe(self.cancel_tasks)
        thread.join(timeout=5)
        self._thread = None
        self._cleanup()  # type: ignore[no-untyped-call]

    def _drop_connections(self) -> None:
        for session in self._sessions:
            if isinstance(session.transport, asyncio.Transport):
                session.transport.abort()
        self._sessions.clear()
