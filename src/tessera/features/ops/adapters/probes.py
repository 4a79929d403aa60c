from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera.shared.application.ports import Cache
from tessera.shared.application.storage import FileStorage


class SqlDatabaseProbe:
    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))


class CacheProbe:
    name = "cache"

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    async def check(self) -> None:
        await self._cache.ping()


class StorageProbe:
    """`HealthProbe` "storage": the bucket (or the local folder) answers."""

    name = "storage"

    def __init__(self, storage: FileStorage) -> None:
        self._storage = storage

    async def check(self) -> None:
        await self._storage.ping()
