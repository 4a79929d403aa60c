"""The `tessera` command as operators use it: configuration checks and migrations."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tessera.main.migrations import head_revision
from tests.e2e.processes import tessera

pytestmark = pytest.mark.slow


def test_check_config_prints_the_configuration_with_secrets_masked(tmp_path: Path) -> None:
    env = {
        "JWT_SECRET_KEY": "s" * 40,
        "DATABASE_URL": "postgresql://app:db-password@db/tessera",
        "SMTP_PASSWORD": "mail-password",
    }
    result = tessera("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "DATABASE_URL=postgresql+asyncpg://app:***@db/tessera  (env)" in result.stdout
    for secret in ("s" * 40, "db-password", "mail-password"):
        assert secret not in result.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_POOL_SIZE": "many"}, "DATABASE_POOL_SIZE"),
        ({"ENVIRONMENT": "production"}, "JWT_SECRET_KEY"),
        (
            {
                "ENVIRONMENT": "production",
                "JWT_SECRET_KEY": "k" * 32,
                "DATA_ENCRYPTION_KEY": base64.b64encode(b"d" * 32).decode(),
            },
            "DATABASE_URL",
        ),
    ],
)
@pytest.mark.parametrize("command", [("check-config",), ("serve",), ("migrate", "current")])
def test_a_bad_setting_stops_every_command_with_one_line(
    tmp_path: Path, env: dict[str, str], variable: str, command: tuple[str, ...]
) -> None:
    result = tessera(*command, cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tessera: configuration error: {variable}: ")
    assert "Traceback" not in result.stderr


def test_embedded_mode_refuses_several_workers(tmp_path: Path) -> None:
    result = tessera("serve", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_several_workers_without_a_shared_jwt_key_are_refused(tmp_path: Path) -> None:
    # REDIS_URL is only read, never connected to, before the refusal
    env = {"REDIS_URL": "redis://127.0.0.1:9/0", "DATABASE_URL": "postgresql://u@127.0.0.1:9/t"}
    result = tessera("serve", "--workers", "2", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "JWT_SECRET_KEY" in result.stderr


def test_migrate_upgrade_current_and_downgrade(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    assert tessera("migrate", "upgrade", cwd=tmp_path, env=env).returncode == 0
    current = tessera("migrate", "current", cwd=tmp_path, env=env)
    assert f"{head_revision()} (head)" in current.stdout
    assert tessera("migrate", "downgrade", "base", cwd=tmp_path, env=env).returncode == 0
    assert "(head)" not in tessera("migrate", "current", cwd=tmp_path, env=env).stdout


def test_every_command_has_help(tmp_path: Path) -> None:
    commands = [
        (),
        ("serve",),
        ("migrate",),
        ("migrate", "upgrade"),
        ("check-config",),
        ("worker",),
        ("scheduler",),
        ("tasks",),
        ("tasks", "dead"),
        ("tasks", "replay"),
    ]
    for command in commands:
        result = tessera(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Usage: " in result.stdout


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_worker_and_scheduler_need_redis(tmp_path: Path, command: str) -> None:
    result = tessera(command, cwd=tmp_path)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_worker_refuses_an_unknown_queue(tmp_path: Path) -> None:
    result = tessera("worker", "--queues", "emails", cwd=tmp_path)
    assert result.returncode == 2
    assert "email_queue" in result.stderr


def test_replaying_a_job_that_is_not_dead_says_so(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    assert tessera("migrate", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert tessera("tasks", "dead", cwd=tmp_path, env=env).stdout.strip() == ""
    result = tessera(
        "tasks", "replay", "0b9f6c2e-9d0e-4f51-9d39-0cc1d1d0c0de", cwd=tmp_path, env=env
    )
    assert result.returncode == 1
    assert "no dead job" in result.stderr


def test_one_shot_commands_print_their_result_and_log_only_when_asked(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    migrated = tessera("migrate", "upgrade", cwd=tmp_path, env=env)
    assert (migrated.stdout, migrated.stderr) == (
        f"database upgraded to {head_revision()} (head)\n",
        "",
    )
    created = tessera(
        "create-admin",
        "--email",
        "root@example.com",
        "--password",
        "admin-pass-phrase-9",
        "--full-name",
        "Root",
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    (line,) = created.stdout.splitlines()
    assert len(line) == 36  # the new admin's id, alone
    dead = tessera("tasks", "dead", cwd=tmp_path, env=env)
    assert (dead.stdout, dead.stderr) == ("", "")
    for asked in (("--verbose",), ("-v",)):
        verbose = tessera(*asked, "migrate", "current", cwd=tmp_path, env=env)
        assert '"level": "INFO"' in verbose.stdout, verbose.stdout
    logged = tessera("migrate", "current", cwd=tmp_path, env=env | {"LOG_LEVEL": "INFO"})
    assert '"level": "INFO"' in logged.stdout


def test_check_config_says_the_data_encryption_key_is_generated(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data")}
    before = tessera("check-config", cwd=tmp_path, env=env)
    assert before.returncode == 0, before.stderr
    key_file = tmp_path / "data" / "data-encryption.key"
    assert f"DATA_ENCRYPTION_KEY=***  (generated, on first use, into {key_file})" in before.stdout
    key_file.parent.mkdir()
    key_file.write_text(base64.b64encode(b"k" * 32).decode() + "\n")
    after = tessera("check-config", cwd=tmp_path, env=env)
    assert f"DATA_ENCRYPTION_KEY=***  (generated, kept in {key_file})" in after.stdout
    assert base64.b64encode(b"k" * 32).decode() not in after.stdout
    assert "JWT_SECRET_KEY=***  (generated)" in after.stdout


def test_tessera_openapi_is_the_same_document_with_or_without_s3(tmp_path: Path) -> None:
    """The client generated in CI (no S3) must match a production server (S3)."""
    local = tessera("openapi", cwd=tmp_path)
    bucket = tessera("openapi", cwd=tmp_path, env={"S3_BUCKET": "tessera-objects"})
    assert local.returncode == bucket.returncode == 0, local.stderr + bucket.stderr
    assert json.loads(local.stdout) == json.loads(bucket.stdout)
