"""Running the ASGI app under granian, with granian's logs in our JSON format.

On SIGTERM granian stops its workers, and a worker stopping drops its WebSockets without a
close frame (clients see 1006, an abnormal closure, upstream issue granian#796).
`DrainingGranian` therefore first sends each worker `DRAIN_SIGNAL`, on which the app closes
its sockets with 1001 "going away" (`main.web`), waits `DRAIN_SECONDS` for those frames to
go out, then stops the workers as granian does (requests in flight still finish).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import MPServer

import tessera

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
PACKAGE_DIR = Path(tessera.__file__).parent
DRAIN_SIGNAL = signal.SIGUSR1
DRAIN_SECONDS = 1.0

# Granian configures logging in every process it starts; send its loggers to the root
# handler, which `configure_logging` made a JSON one.
_GRANIAN_LOGGING = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


def run_server(*, host: str, port: int, workers: int, reload: bool, log_level: str) -> None:
    with metrics_directory():
        _serve(host=host, port=port, workers=workers, reload=reload, log_level=log_level)


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """`PROMETHEUS_MULTIPROC_DIR` for the workers, emptied before they start: the operator's
    (a volume of its own, e.g. an emptyDir) or a temporary one, removed afterwards.

    Set before prometheus-client is imported in this process, since it reads the variable
    on import, and the workers are forked from here."""
    given = os.environ.get(MULTIPROCESS_DIR)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="tessera-metrics-"))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield directory
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


class DrainingGranian(MPServer):
    """Granian's server for GIL builds of Python (worker processes), telling its workers to
    close their WebSockets cleanly before it stops them.

    Overrides granian's `_stop_workers` (pinned in uv.lock; tests/e2e/test_graceful_shutdown
    fails if a granian upgrade changes it)."""

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        # A terminal's Ctrl-C reaches the workers too, and they stop on their own: mark them
        # as stopped by us right away, before the serve loop wakes up, or a worker quicker
        # than a busy parent is taken for a crash (and the server exits with 1).
        for worker in self.wrks:
            worker.interrupt_by_parent = True
        super().signal_handler_interrupt(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _stop_workers(self) -> None:
        for worker in self.wrks:
            # The parent stops it from here on: granian must not take its exit after the
            # drain for a crash (an interrupt has marked them already; other stops have not).
            worker.interrupt_by_parent = True
            pid = getattr(getattr(worker, "inner", None), "pid", None)
            if pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(pid, DRAIN_SIGNAL)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(w.is_alive() for w in self.wrks):  # type: ignore[no-untyped-call]
            time.sleep(0.05)
        super()._stop_workers()  # type: ignore[no-untyped-call]


def _serve(*, host: str, port: int, workers: int, reload: bool, log_level: str) -> None:
    DrainingGranian(
        "tessera.main.asgi:create",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        reload=reload,
        # the code only: the working folder holds var/ (the SQLite database, the outbox),
        # whose every write would restart the server
        reload_paths=[PACKAGE_DIR],
        log_level=LogLevels(log_level.lower()),
        log_dictconfig=_GRANIAN_LOGGING,
        log_access=False,
        respawn_failed_workers=True,
    ).serve()
