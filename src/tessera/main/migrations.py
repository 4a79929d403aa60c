"""Alembic, driven from code: `tessera migrate …`, embedded start-up and the tests."""

from __future__ import annotations

from pathlib import Path

from advanced_alchemy.types import GUID
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column
from sqlalchemy.types import TypeEngine

import tessera


def migrations_dir() -> Path:
    """The packaged copy in a wheel, else the repository's `migrations/` (editable install)."""
    packaged = Path(tessera.__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "40")
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str, *, autogenerate: bool = True) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=autogenerate)


def current(database_url: str) -> None:
    """Print the database's revision, as `alembic current` does."""
    command.current(alembic_config(database_url), verbose=False)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def compare_type(
    context: MigrationContext,
    _inspected_column: Column[object],
    _metadata_column: Column[object],
    _inspected_type: TypeEngine[object],
    metadata_type: TypeEngine[object],
) -> bool | None:
    """SQLite reflects GUID's BINARY(16) as NUMERIC(16); that is no difference. Else default."""
    if context.dialect.name == "sqlite" and isinstance(metadata_type, GUID):
        return False
    return None
