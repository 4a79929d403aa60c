"""An SMTP server that accepts every message and notes when it arrived and its Message-ID.

aiosmtpd runs in a thread of its own, on its own event loop, so the benchmark's loop never
delays an answer. `arrivals` only grows (appends are atomic under the GIL), so readers in
other threads can take `len()` and slices of it at any time.

    with SmtpSink() as smtp:   # listening on smtp.host:smtp.port
        ...
        smtp.arrivals          # [Arrival(at=time.time(), message_id="<uuid@host>"), ...]
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.servers import free_port

_HEADERS = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    """`time.time()` when the message was complete, just before the server answered 250."""
    message_id: str

    @property
    def key(self) -> uuid.UUID | None:
        """The UUID left of the `@` in `<uuid@host>` (Tessera's job id), if it is one."""
        local = self.message_id.strip().strip("<>").partition("@")[0]
        try:
            return uuid.UUID(local)
        except ValueError:
            return None


class _Recorder:
    """aiosmtpd's handler: every DATA is accepted and noted."""

    def __init__(self, arrivals: list[Arrival]) -> None:
        self._arrivals = arrivals

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        at = time.time()
        headers = _HEADERS.parsebytes(envelope.original_content or b"", headersonly=True)
        self._arrivals.append(Arrival(at, str(headers.get("Message-ID", ""))))
        return "250 2.0.0 OK: queued"


class SmtpSink:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self._controller = Controller(
            _Recorder(self.arrivals),
            hostname=self.host,
            port=free_port(),
            server_hostname="smtp.bench",  # else aiosmtpd asks DNS for this host's FQDN
            ready_timeout=10.0,
        )

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()
