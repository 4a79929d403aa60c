"""Running the ASGI app under granian, with granian's logs in our JSON format."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

# Granian configures logging in every process it starts; send its loggers to the root
# handler, which `configure_logging` made a JSON one.
_GRANIAN_LOGGING = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


def run_server(*, host: str, port: int, workers: int, reload: bool, log_level: str) -> None:
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
