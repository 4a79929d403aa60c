"""`tessera`: the one command-line entry point (SPEC §6), configured by the environment.

Start-up imports little (`tessera --help` must not load the web stack, SQLAlchemy or
Alembic): each command imports what it needs when it runs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tessera.features.jobs.domain.routing import QUEUES
from tessera.main.settings import (
    ConfigError,
    LoadedSettings,
    Settings,
    describe,
    listen_url,
    load_settings_with_sources,
    require_object_store,
)
from tessera.shared.domain.errors import DomainError, NotFound

F = TypeVar("F", bound=Callable[..., Any])


def _settings(*, stores_objects: bool = False, service: bool = False) -> Settings:
    """The settings, or exit 2 with one line; `stores_objects` for the commands that need
    the object store (in production: S3)."""
    return _loaded(stores_objects=stores_objects, service=service).settings


def _loaded(*, stores_objects: bool = False, service: bool = False) -> LoadedSettings:
    """The settings, with logging configured: services (`service`) log at LOG_LEVEL; a
    one-shot command prints its result for a person and logs only warnings and errors,
    unless LOG_LEVEL is set or `tessera --verbose` asks for INFO."""
    try:
        loaded = load_settings_with_sources()
        if stores_objects:
            require_object_store(loaded.settings)
    except ConfigError as error:
        click.echo(f"tessera: configuration error: {error}", err=True)
        sys.exit(2)
    level = loaded.settings.log_level
    verbose = bool(click.get_current_context().find_root().params.get("verbose"))
    if verbose and logging.getLevelName(level) > logging.INFO:
        level = "INFO"
    elif not (service or verbose or "log_level" in loaded.sources):
        level = "WARNING"
    from tessera.main.logs import configure_logging

    configure_logging(level)
    return loaded


class _Commands(click.Group):
    """Every command: a database or Redis that is down or saturated is one line naming the
    cause and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            from tessera.shared.adapters.outages import outage

            down = outage(error)
            if down is None:
                raise
            click.echo(f"tessera: {down.describe()}; try again once it is back", err=True)
            ctx.exit(1)


def _guard(settings: Settings) -> None:
    """Print the guardrails' findings; stop (status 2) if one refuses the configuration."""
    import asyncio

    from tessera.main.guardrails import guardrail_findings

    findings = asyncio.run(guardrail_findings(settings))
    for finding in findings:
        click.echo(finding.line(), err=True)
    if any(finding.level == "refuse" for finding in findings):
        sys.exit(2)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log at INFO (one-shot commands log only warnings unless LOG_LEVEL is set).",
)
def main(verbose: bool) -> None:
    """Tessera: accounts, files, notifications and webhooks for your frontends."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--reload", is_flag=True, help="Restart when the source changes (development).")
def serve(host: str, port: int, workers: int, reload: bool) -> None:
    """Run the API server (granian).

    Embedded mode (no Redis configured) keeps state in this process, so it runs one worker and
    applies the database migrations itself before serving.
    """
    loaded = _loaded(stores_objects=True, service=True)
    settings = loaded.settings
    if not settings.is_production and "public_base_url" not in loaded.sources:
        # links (downloads, avatars, uploads) come back to where this server listens
        os.environ["PUBLIC_BASE_URL"] = listen_url(host, port)
    if settings.is_embedded and workers > 1:
        click.echo(
            "tessera: embedded mode keeps sessions and limits in memory, so it serves one "
            "worker; set REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_URL) to run several.",
            err=True,
        )
        sys.exit(2)
    if settings.jwt_secret_generated and workers > 1:
        click.echo(
            "tessera: JWT_SECRET_KEY is not set, so each worker would sign tokens with a key "
            "of its own that the others refuse; set it (32+ bytes) to run several.",
            err=True,
        )
        sys.exit(2)
    _guard(settings)
    if settings.uses_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        from tessera.main import migrations

        migrations.upgrade(settings.database_url)
    from tessera.main.server import run_server

    run_server(host=host, port=port, workers=workers, reload=reload, log_level=settings.log_level)


@main.group()
def migrate() -> None:
    """Database schema migrations (Alembic)."""


@migrate.command("upgrade")
@click.argument("revision", default="head")
def migrate_upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head); with Redis, also move sessions kept
    in an earlier version's key layout to the current one."""
    import asyncio

    from tessera.main import migrations
    from tessera.main.operations import move_redis_sessions

    settings = _settings()
    migrations.upgrade(settings.database_url, revision)
    click.echo(f"database upgraded to {_named(revision)}")
    moved = asyncio.run(move_redis_sessions(settings))
    if moved is not None:
        click.echo(moved.line())


@migrate.command("downgrade")
@click.argument("revision", default="-1")
def migrate_downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (default: one step back; `base` for empty)."""
    from tessera.main import migrations

    migrations.downgrade(_settings().database_url, revision)
    click.echo(f"database downgraded to {revision}")


def _named(revision: str) -> str:
    from tessera.main import migrations

    return f"{migrations.head_revision()} (head)" if revision == "head" else revision


@migrate.command("revision")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.option("--empty", is_flag=True, help="Do not compare the models with the database.")
def migrate_revision(message: str, empty: bool) -> None:
    """Write a new revision, autogenerated from the models unless --empty."""
    from tessera.main import migrations

    migrations.revision(_settings().database_url, message, autogenerate=not empty)


@migrate.command("current")
def migrate_current() -> None:
    """Print the database's current revision."""
    from tessera.main import migrations

    migrations.current(_settings().database_url)


@main.command()
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues to take jobs from.",
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics.")
def worker(queues: str, metrics_port: int | None) -> None:
    """Run background jobs from the Redis queues until SIGTERM (then finish those in hand)."""
    settings = _settings(stores_objects=True, service=True)
    chosen = [queue.strip() for queue in queues.split(",") if queue.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        click.echo(
            f"tessera: unknown queue {unknown[:1]}; choose from {', '.join(QUEUES)}", err=True
        )
        sys.exit(2)
    if settings.is_embedded:
        _needs_redis("worker")
    _guard(settings)
    from tessera.main.worker import run_worker

    run_worker(settings, chosen, metrics_port=metrics_port)


@main.command()
def scheduler() -> None:
    """Send the periodic jobs (outbox sweep, clean-ups) on time. Run one or more: one leads."""
    settings = _settings(service=True)
    if settings.is_embedded:
        _needs_redis("scheduler")
    from tessera.main.scheduler import run_scheduler

    run_scheduler(settings)


def _needs_redis(command: str) -> None:
    click.echo(
        f"tessera: `{command}` needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_URL); "
        "in embedded mode `tessera serve` runs the jobs itself.",
        err=True,
    )
    sys.exit(2)


@main.group()
def tasks() -> None:
    """The dead-letter list of background jobs that failed for good."""


@tasks.command("dead")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
def tasks_dead(limit: int) -> None:
    """List dead jobs, oldest failure first, one JSON object per line."""
    import asyncio

    from tessera.main.operations import list_dead_jobs

    for line in asyncio.run(list_dead_jobs(_settings(), limit)):
        click.echo(line)


@tasks.command("replay")
@click.argument("job_id")
def tasks_replay(job_id: str) -> None:
    """Give a dead job fresh attempts and queue it again."""
    from tessera.main.operations import replay_dead_job

    try:
        import asyncio

        click.echo(asyncio.run(replay_dead_job(_settings(), job_id)))
    except NotFound as error:
        click.echo(f"tessera: {error.message} ({job_id})", err=True)
        sys.exit(1)


@main.command("create-admin")
@click.option("--email", required=True, help="The admin's email (must be free).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Obeys the password policy; asked for when omitted.",
)
@click.option("--full-name", required=True, help="The admin's name.")
def create_admin(email: str, password: str, full_name: str) -> None:
    """Create an `admin` user (verified, in a new "Administrators" tenant); print its id.

    Embedded mode (SQLite) applies the migrations first; on PostgreSQL run `tessera
    migrate upgrade` before.
    """
    from tessera.main.operations import create_admin as create

    settings = _settings()
    if settings.uses_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        from tessera.main import migrations

        migrations.upgrade(settings.database_url)
    try:
        import asyncio

        click.echo(asyncio.run(create(settings, email, password, full_name)))
    except DomainError as error:
        click.echo(f"tessera: {error.message}", err=True)
        sys.exit(1)


@main.command("openapi")
def openapi_command() -> None:
    """Print the OpenAPI document (JSON) that GET /schema/openapi.json serves, e.g. to
    generate a client: `tessera openapi > openapi.json`. Connects to nothing."""
    from litestar.serialization import encode_json

    from tessera.main.ioc import make_container
    from tessera.main.openapi import openapi_document
    from tessera.main.web import create_app

    settings = _settings()
    app = create_app(make_container(settings), settings)
    click.echo(encode_json(openapi_document(app)).decode())


@main.command()
def backup() -> None:
    """Back up the database now (PostgreSQL only): pg_dump, gzipped, stored as
    backups/YYYY-MM-DD/database-backup.sql.gz (UTC date; replaces that day's backup).

    The scheduler does this nightly and deletes backups older than BACKUP_RETENTION_DAYS.
    Prints the key and size last; on failure, one line and exit status 1.
    """
    from tessera.main.operations import back_up_database

    try:
        import asyncio

        result = asyncio.run(back_up_database(_settings(stores_objects=True)))
    except DomainError as error:
        click.echo(f"tessera: backup failed: {error.message}", err=True)
        sys.exit(1)
    click.echo(f"backed up {result.sql_bytes} bytes of SQL in {result.duration_seconds:.1f} s")
    click.echo(f"{result.key} {result.size_bytes} bytes")


@main.command("check-config")
def check_config() -> None:
    """Validate the configuration and print it, secrets masked, with where each value came
    from; then the production guardrails (the database role is checked by connecting)."""
    try:
        loaded = load_settings_with_sources()
    except ConfigError as error:
        click.echo(f"tessera: configuration error: {error}", err=True)
        sys.exit(2)
    for line in describe(loaded, _generated_keys(loaded.settings)):
        click.echo(line)
    _guard(loaded.settings)


def _generated_keys(settings: Settings) -> dict[str, str]:
    """Unset keys that are generated where used: DATA_ENCRYPTION_KEY with SQLite."""
    if settings.data_encryption_key is not None or not settings.uses_sqlite:
        return {}
    from tessera.shared.adapters.data_key import KEY_FILE

    path = Path(settings.data_dir) / KEY_FILE
    kept = "kept in" if path.is_file() else "on first use, into"
    return {"data_encryption_key": f"generated, {kept} {path}"}
