"""Running the ASGI app under granian, with granian's logs in our JSON format."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

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


def _serve(*, host: str, port: int, workers: int, reload: bool, log_level: str) -> None:
    Granian(
        "tessera.main.asgi:create",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        reload=reload,
        log_level=LogLevels(log_level.lower()),
        log_dictconfig=_GRANIAN_LOGGING,
        log_access=False,
        respawn_failed_workers=True,
    ).serve()
