"""deploy/compose.yaml: valid against the Compose specification, every service of the stack
there, started in the right order, health-checked, pinned, and configured with settings that
Tessera accepts in production. (No Docker engine runs here; moto's S3 server, a dev
dependency, stands in for the `s3` service to run the bucket one-shot for real.)"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tessera.main.settings import load_settings
from tests.deploy.tools import COMPOSE_FILE, DEPLOY, SETTING_NAMES, parse_tessera_args, run, tool
from tests.fakes.s3_server import FakeS3Server

TESSERA = ("migrate", "api", "worker", "scheduler")
LONG_RUNNING = ("api", "worker", "scheduler", "postgres", "redis", "s3", "mailpit")
ONE_SHOTS = ("migrate", "s3-bucket")
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?message}` against ENVIRON."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = environ.get(name)
        blank = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in ("?", ":?") and blank:
            raise MissingVariable(f"{name}: {arg}")
        if op in ("-", ":-") and blank:
            return arg
        return current or ""

    return _VARIABLE.sub(value, text)


def compose(environ: Mapping[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), environ))
    assert isinstance(loaded, dict)
    return loaded


def keys() -> dict[str, str]:
    return {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = compose(keys())["services"]
    return services


def test_compose_file_matches_the_compose_specification() -> None:
    checker = tool("check-jsonschema", "check-jsonschema")
    result = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_the_processes_and_every_backing_service(services: dict[str, Any]) -> None:
    assert set(services) == {*TESSERA, "postgres", "redis", "s3", "s3-bucket", "mailpit"}


def test_tessera_processes_start_after_the_migration_and_their_services(
    services: dict[str, Any],
) -> None:
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
            "s3-bucket": {"condition": "service_completed_successfully"},
            "mailpit": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["s3-bucket"]["depends_on"] == {"s3": {"condition": "service_healthy"}}
    for name in ONE_SHOTS:
        assert services[name]["restart"] == "no", name


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    # PostgreSQL's init phase serves the Unix socket only: TCP means the real server is up.
    assert "127.0.0.1" in services["postgres"]["healthcheck"]["test"]
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        if check["test"][1:3] == ["python", "-c"]:
            compile(check["test"][3], f"{name} healthcheck", "exec")


def test_every_image_is_pinned_and_tessera_builds_from_the_dockerfile(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        reference = service["image"]
        repository, colon, tag = reference.rpartition(":")
        assert repository, (name, reference)
        assert colon, (name, reference)
        assert tag not in ("", "latest"), (name, reference)
        assert "/" not in tag, (name, reference)
    for name in TESSERA:
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (DEPLOY / services[name]["build"]["context"] / "deploy" / "Dockerfile").is_file()


def test_tessera_services_run_commands_the_cli_accepts(services: dict[str, Any]) -> None:
    paths = {name: parse_tessera_args(services[name]["command"]).command_path for name in TESSERA}
    assert paths == {
        "migrate": "tessera migrate upgrade",
        "api": "tessera serve",
        "worker": "tessera worker",
        "scheduler": "tessera scheduler",
    }
    serve = parse_tessera_args(services["api"]["command"])
    assert serve.params["host"] == "0.0.0.0"
    assert services["api"]["ports"] == [f"127.0.0.1:8000:{serve.params['port']}"]
    worker = parse_tessera_args(services["worker"]["command"])
    assert (
        f":{worker.params['metrics_port']}/metrics" in services["worker"]["healthcheck"]["test"][3]
    )


def test_tessera_services_run_read_only_without_privileges(services: dict[str, Any]) -> None:
    for name in TESSERA:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name


def test_tessera_settings_pass_the_production_validation(services: dict[str, Any]) -> None:
    for name in TESSERA:
        environment = services[name]["environment"]
        # A bare `NAME:` would pass the host's variable through: every value is spelt out.
        assert None not in environment.values(), name
        environ = {key: str(value) for key, value in environment.items()}
        assert set(environ) <= SETTING_NAMES, name
        settings = load_settings(environ, dotenv_path=None)
        assert settings.is_production, name
        assert not settings.is_embedded, name
        assert settings.uses_object_store, name
        assert settings.smtp_host == "mailpit", name
        assert not settings.smtp_starttls, name  # Mailpit offers no STARTTLS by default


def test_compose_refuses_to_start_without_the_two_keys() -> None:
    for missing in ("JWT_SECRET_KEY", "DATA_ENCRYPTION_KEY"):
        environ = keys() | {missing: ""}
        with pytest.raises(MissingVariable, match=missing):
            compose(environ)


def test_migrate_connects_as_the_owner_and_the_services_as_the_app_role(
    services: dict[str, Any],
) -> None:
    def user(name: str) -> str | None:
        return make_url(services[name]["environment"]["DATABASE_URL"]).username

    assert user("migrate") == "postgres"
    assert {user(name) for name in ("api", "worker", "scheduler")} == {"tessera_app"}
    init = services["postgres"]["volumes"]
    assert "./compose/postgres-app-role.sh:/docker-entrypoint-initdb.d/10-app-role.sh:ro" in init
    script = DEPLOY / "compose" / "postgres-app-role.sh"
    assert "CREATE ROLE tessera_app LOGIN" in script.read_text()
    assert run(["sh", "-n", str(script)]).returncode == 0


def test_data_lives_in_named_volumes() -> None:
    loaded = compose(keys())
    volumes = set(loaded["volumes"])
    for name, target in (
        ("postgres", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("mailpit", "/data"),
    ):
        mounts = dict(m.split(":")[:2] for m in loaded["services"][name]["volumes"])
        assert {source for source, at in mounts.items() if at == target} <= volumes, name
        assert target in mounts.values(), name


def test_bucket_one_shot_creates_the_bucket_and_succeeds_when_it_exists(
    services: dict[str, Any], s3_server: FakeS3Server
) -> None:
    (script,) = services["s3-bucket"]["command"]
    assert services["s3-bucket"]["entrypoint"] == ["python", "-c"]
    assert "http://s3:5000" in script
    local = script.replace("http://s3:5000", s3_server.endpoint_url)
    for _attempt in range(2):
        done = subprocess.run(  # noqa: PLW1510 - asserted just below, with the output
            [sys.executable, "-c", local], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    (health,) = services["s3"]["healthcheck"]["test"][3:]
    probe = health.replace("http://127.0.0.1:5000", s3_server.endpoint_url)
    assert subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0  # noqa: PLW1510
