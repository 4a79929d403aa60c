"""A webhook receiver for the tests: a real HTTP server in a thread that answers from a
script (then 200) and records every request it got, with the time it arrived."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Receiver:
    """`script` holds `(status, headers)` answers, used in order; then every answer is 200.
    While `hold` is clear a request waits (up to a minute) before it is answered."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    tls: ssl.SSLContext | None = None  # serve https with this context
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI seen
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.hold.set()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        assert self._server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self._server.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                receiver.hits.append(Hit(self.path, headers, body, time.monotonic()))
                receiver.arrived.set()
                receiver.hold.wait(60)
                status, extra = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.hold.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, within: float = 20) -> list[Hit]:
        """The first `count` hits, once they have arrived; fails after `within` seconds."""
        deadline = time.monotonic() + within
        while len(self.hits) < count:
            assert time.monotonic() < deadline, f"{len(self.hits)} of {count} requests arrived"
            await asyncio.sleep(0.05)
        return self.hits[:count]
