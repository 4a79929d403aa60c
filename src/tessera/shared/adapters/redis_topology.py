"""Where Redis is: one server, the primary a set of sentinels watch, or a Cluster.

Plain values (no driver import), made from the settings and turned into clients by
`redis_client.connect_redis` and into queue brokers by the jobs feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SingleTopology:
    """One Redis server (`REDIS_URL`): `redis://`, `rediss://` or `unix://`."""

    url: str


@dataclass(frozen=True, slots=True)
class SentinelTopology:
    """The primary that `sentinels` monitor under `service` (`REDIS_SENTINELS`,
    `REDIS_SENTINEL_SERVICE`). The primary's credentials, database and TLS come from the
    service's URL form; the sentinels may have a password of their own."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False
    sentinel_password: str | None = None

    def primary_options(self) -> dict[str, Any]:
        """redis-py connection options for the primary (and any replica)."""
        options: dict[str, Any] = {"db": self.db, "ssl": self.tls}
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password
        return options

    def sentinel_options(self) -> dict[str, Any]:
        """redis-py connection options for the sentinels themselves."""
        options: dict[str, Any] = {"ssl": self.tls} if self.tls else {}
        if self.sentinel_password is not None:
            options["password"] = self.sentinel_password
        return options


@dataclass(frozen=True, slots=True)
class ClusterTopology:
    """A Redis Cluster, found through any of its nodes (`REDIS_CLUSTER_URL`)."""

    url: str


RedisTopology = SingleTopology | SentinelTopology | ClusterTopology
