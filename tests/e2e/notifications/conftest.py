"""`tessera serve` in embedded mode (SQLite, memory pub/sub, jobs in-process), shared by
the module's socket tests: each test signs up accounts of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.notifications.sockets import ADMIN, ORIGIN, create_admin
from tests.e2e.processes import running_server


@dataclass(frozen=True)
class Server:
    url: str
    admin: str  # the admin's email


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("notifications")
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'tessera.db'}",
        "DATA_DIR": str(folder),
        "JWT_SECRET_KEY": "socket-tests-" + "s" * 40,
        "RATE_LIMIT_ENABLED": "false",
        "CORS_ALLOW_ORIGINS": ORIGIN,
        "LOG_LEVEL": "WARNING",
    }
    create_admin(folder, env)
    with running_server(folder, env) as server:
        yield Server(server.url, ADMIN)
