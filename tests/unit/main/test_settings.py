from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tessera.main.guardrails import setting_findings
from tessera.main.settings import (
    ConfigError,
    describe,
    load_settings,
    load_settings_with_sources,
    require_object_store,
)
from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    SentinelTopology,
    SingleTopology,
)

KEY = "k" * 32
DATA_KEY = base64.b64encode(b"\x01" * 32).decode()
PRODUCTION = {
    "ENVIRONMENT": "production",
    "JWT_SECRET_KEY": KEY,
    "DATA_ENCRYPTION_KEY": DATA_KEY,
    "DATABASE_URL": "postgresql://app:pw@db/tessera",
    "REDIS_URL": "redis://cache:6379/0",
    "S3_BUCKET": "tessera-objects",
}


def load(env: dict[str, str], tmp_path: Path | None = None) -> object:
    return load_settings(env, dotenv_path=None if tmp_path is None else tmp_path / ".env")


def error_for(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, dotenv_path=None)
    return caught.value


def test_no_configuration_gives_the_embedded_defaults_with_a_generated_jwt_key() -> None:
    settings = load_settings({}, dotenv_path=None)
    assert settings.database_url == "sqlite+aiosqlite:///./var/tessera.db"
    assert settings.redis_url is None
    assert settings.is_embedded
    assert settings.jwt_secret_generated
    assert len(settings.jwt_secret_key.encode()) >= 32
    assert settings.access_token_ttl_seconds == 3600
    assert settings.webhook_retry_schedule[:3] == (5, 300, 1800)
    assert settings.scheduler_lease_seconds == 15


def test_plain_postgresql_url_is_normalised_to_asyncpg() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u@h/db"}, dotenv_path=None)
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


def test_comma_separated_lists_and_boolean_words_are_understood() -> None:
    settings = load_settings(
        {
            "CORS_ALLOW_ORIGINS": "https://a.example, https://b.example",
            "WEBHOOK_RETRY_SCHEDULE": "1,2,3",
            "RATE_LIMIT_ENABLED": "off",
            "TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1",
            "LOG_LEVEL": "debug",
        },
        dotenv_path=None,
    )
    assert settings.cors_allow_origins == ("https://a.example", "https://b.example")
    assert settings.webhook_retry_schedule == (1, 2, 3)
    assert settings.rate_limit_enabled is False
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"DATABASE_POOL_SIZE": "lots"}, "DATABASE_POOL_SIZE", "expected int, not 'lots'"),
        ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE", ">= 1"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT", "must be one of development, test, production"),
        ({"RATE_LIMIT_ENABLED": "maybe"}, "RATE_LIMIT_ENABLED", "expected bool"),
        ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY", "at least 32 bytes"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL", "unsupported scheme 'mysql'"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL", "not a redis"),
        ({"REDIS_KEY_PREFIX": "app{1}:"}, "REDIS_KEY_PREFIX", "must not contain { or }"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8,nope"}, "TRUSTED_PROXIES", "'nope' is not an address"),
        ({"DATA_ENCRYPTION_KEY": "abc"}, "DATA_ENCRYPTION_KEY", "base64"),
        (
            {"DATA_ENCRYPTION_KEY": base64.b64encode(b"x" * 16).decode()},
            "DATA_ENCRYPTION_KEY",
            "32 bytes, not 16",
        ),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "WEBHOOK_RETRY_SCHEDULE", "int"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT", "<= 65535"),
        ({"SCHEDULER_LEASE_SECONDS": "0.5"}, "SCHEDULER_LEASE_SECONDS", ">= 1"),
    ],
)
def test_a_bad_value_is_reported_in_one_line_naming_the_variable(
    env: dict[str, str], variable: str, words: str
) -> None:
    error = error_for(env)
    assert error.variable == variable
    assert words in str(error)
    assert str(error).startswith(f"{variable}: ")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("JWT_SECRET_KEY", "JWT_SECRET_KEY"),
        ("DATA_ENCRYPTION_KEY", "DATA_ENCRYPTION_KEY"),
        ("DATABASE_URL", "DATABASE_URL"),
        ("REDIS_URL", "REDIS_URL"),
    ],
)
def test_production_refuses_generated_secrets_and_embedded_defaults(
    missing: str, variable: str
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    error = error_for(env)
    assert error.variable == variable
    assert "production" in error.problem


def test_production_needs_s3_only_for_the_commands_that_store_objects() -> None:
    without_s3 = {k: v for k, v in PRODUCTION.items() if k != "S3_BUCKET"}
    settings = load_settings(without_s3, dotenv_path=None)
    with pytest.raises(ConfigError) as caught:
        require_object_store(settings)
    assert caught.value.variable == "S3_BUCKET"
    assert "production" in caught.value.problem
    require_object_store(load_settings({}, dotenv_path=None))  # embedded: a local folder
    require_object_store(load_settings(PRODUCTION, dotenv_path=None))


def test_data_dir_moves_the_default_sqlite_database() -> None:
    assert load_settings({"DATA_DIR": "/srv/tessera"}, dotenv_path=None).database_url == (
        "sqlite+aiosqlite:////srv/tessera/tessera.db"
    )
    loaded = load_settings_with_sources({"DATA_DIR": "data"}, dotenv_path=None)
    assert loaded.settings.database_url == "sqlite+aiosqlite:///data/tessera.db"
    assert loaded.sources.get("database_url", "default") == "default"
    given = {"DATA_DIR": "/srv/tessera", "DATABASE_URL": "sqlite:///other.db"}
    assert load_settings(given, dotenv_path=None).database_url == ("sqlite+aiosqlite:///other.db")


def test_production_starts_when_everything_is_set() -> None:
    settings = load_settings(PRODUCTION, dotenv_path=None)
    assert settings.is_production
    assert not settings.jwt_secret_generated
    assert settings.jwt_secret_key == KEY


def test_environment_wins_over_dotenv_which_wins_over_the_yaml_file(tmp_path: Path) -> None:
    config = tmp_path / "tessera.yaml"
    config.write_text("log_level: ERROR\njwt_issuer: from-file\naccount_retention_days: 7\n")
    (tmp_path / ".env").write_text("LOG_LEVEL=WARNING\nJWT_ISSUER=from-dotenv\n")
    loaded = load_settings_with_sources(
        {"CONFIG_FILE": str(config), "LOG_LEVEL": "DEBUG"}, dotenv_path=tmp_path / ".env"
    )
    assert loaded.settings.log_level == "DEBUG"
    assert loaded.settings.jwt_issuer == "from-dotenv"
    assert loaded.settings.account_retention_days == 7
    assert loaded.sources["log_level"] == "env"
    assert loaded.sources["jwt_issuer"] == ".env"
    assert loaded.sources["account_retention_days"] == "file"


def test_an_unknown_key_in_the_yaml_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "tessera.yaml"
    config.write_text("databse_url: postgresql://typo\n")
    error = error_for({"CONFIG_FILE": str(config)})
    assert error.variable == "CONFIG_FILE"
    assert "databse_url" in error.problem


def test_a_missing_yaml_file_is_named() -> None:
    error = error_for({"CONFIG_FILE": "/nonexistent/tessera.yaml"})
    assert error.variable == "CONFIG_FILE"
    assert "cannot read" in error.problem


def test_blank_values_count_as_unset() -> None:
    settings = load_settings({"REDIS_URL": "", "DATABASE_POOL_SIZE": "  "}, dotenv_path=None)
    assert settings.redis_url is None
    assert settings.database_pool_size == 20


def test_check_config_output_masks_secrets_and_url_passwords() -> None:
    env = PRODUCTION | {"SMTP_PASSWORD": "smtp-pass-123", "AWS_SECRET_ACCESS_KEY": "aws-sec-456"}
    text = "\n".join(describe(load_settings_with_sources(env, dotenv_path=None)))
    for secret in (KEY, DATA_KEY, "smtp-pass-123", "aws-sec-456", ":pw@"):
        assert secret not in text
    assert "DATABASE_URL=postgresql+asyncpg://app:***@db/tessera  (env)" in text
    assert "JWT_SECRET_KEY=***  (env)" in text
    assert "LOG_LEVEL=INFO  (default)" in text


def test_an_s3_endpoint_needs_a_bucket() -> None:
    error = error_for({"S3_ENDPOINT_URL": "http://minio:9000"})
    assert error.variable == "S3_BUCKET"
    assert "S3_ENDPOINT_URL" in error.problem
    assert not load_settings({}, dotenv_path=None).uses_object_store
    assert load_settings({"S3_BUCKET": "b"}, dotenv_path=None).uses_object_store


SENTINELS = {"REDIS_SENTINELS": "s1:26379, [::1]:26380,s3", "REDIS_SENTINEL_SERVICE": "mymaster"}


def test_redis_sentinels_name_the_primary_their_sentinels_watch() -> None:
    settings = load_settings(SENTINELS, dotenv_path=None)
    assert not settings.is_embedded
    assert settings.redis == SentinelTopology(
        (("s1", 26379), ("::1", 26380), ("s3", 26379)), "mymaster"
    )


def test_the_sentinel_service_may_carry_the_primarys_credentials_database_and_tls() -> None:
    env = SENTINELS | {
        "REDIS_SENTINEL_SERVICE": "rediss://app:p%40ss@MyMaster/2",
        "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
    }
    topology = load_settings(env, dotenv_path=None).redis
    assert isinstance(topology, SentinelTopology)
    assert (topology.service, topology.username, topology.password) == ("MyMaster", "app", "p@ss")
    assert (topology.db, topology.tls, topology.sentinel_password) == (2, True, "sentinel-secret")
    assert topology.primary_options() == {
        "db": 2,
        "ssl": True,
        "username": "app",
        "password": "p@ss",
    }
    assert topology.sentinel_options() == {"ssl": True, "password": "sentinel-secret"}
    text = "\n".join(describe(load_settings_with_sources(env, dotenv_path=None)))
    assert "p%40ss" not in text
    assert "sentinel-secret" not in text
    assert "REDIS_SENTINEL_SERVICE=rediss://app:***@MyMaster/2  (env)" in text
    assert "REDIS_SENTINEL_PASSWORD=***  (env)" in text


def test_a_cluster_is_found_through_any_of_its_nodes() -> None:
    settings = load_settings({"REDIS_CLUSTER_URL": "rediss://:pw@node-1:6379"}, dotenv_path=None)
    assert settings.redis == ClusterTopology("rediss://:pw@node-1:6379")
    assert load_settings({"REDIS_URL": "unix:///run/redis.sock"}, dotenv_path=None).redis == (
        SingleTopology("unix:///run/redis.sock")
    )


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        (
            {"REDIS_URL": "redis://a", "REDIS_CLUSTER_URL": "redis://b"},
            "REDIS_CLUSTER_URL",
            "cannot be set together with REDIS_URL",
        ),
        (SENTINELS | {"REDIS_URL": "redis://a"}, "REDIS_SENTINELS", "choose one"),
        ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_SERVICE", "is required"),
        ({"REDIS_SENTINEL_SERVICE": "mymaster"}, "REDIS_SENTINEL_SERVICE", "only with"),
        ({"REDIS_SENTINEL_PASSWORD": "x"}, "REDIS_SENTINEL_PASSWORD", "only with"),
        (SENTINELS | {"REDIS_SENTINELS": "s1:port"}, "REDIS_SENTINELS", "'s1:port' is not"),
        (SENTINELS | {"REDIS_SENTINELS": "s1:70000"}, "REDIS_SENTINELS", "no valid port"),
        (SENTINELS | {"REDIS_SENTINELS": "::1:26379"}, "REDIS_SENTINELS", "is not host:port"),
        (
            SENTINELS | {"REDIS_SENTINEL_SERVICE": "http://:pw@mymaster"},
            "REDIS_SENTINEL_SERVICE",
            "'http://:***@mymaster' is neither a name",
        ),
        (
            SENTINELS | {"REDIS_SENTINEL_SERVICE": "redis://mymaster:6379"},
            "REDIS_SENTINEL_SERVICE",
            "is neither a name",
        ),
        (
            SENTINELS | {"REDIS_SENTINEL_SERVICE": "redis://mymaster/two"},
            "REDIS_SENTINEL_SERVICE",
            "'two' is not a number",
        ),
        ({"REDIS_CLUSTER_URL": "redis://node:6379/3"}, "REDIS_CLUSTER_URL", "database 0 only"),
        ({"REDIS_CLUSTER_URL": "unix:///run/redis.sock"}, "REDIS_CLUSTER_URL", "redis/rediss"),
    ],
)
def test_a_redis_topology_that_is_not_exactly_one_is_refused_in_one_line(
    env: dict[str, str], variable: str, words: str
) -> None:
    error = error_for(env)
    assert error.variable == variable
    assert words in error.problem, error.problem
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "redis",
    [SENTINELS, {"REDIS_CLUSTER_URL": "redis://node:6379"}],
)
def test_production_accepts_any_redis_topology(redis: dict[str, str]) -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"}
    assert not load_settings(without | redis, dotenv_path=None).is_embedded
    error = error_for(without)
    assert "REDIS_SENTINELS" in error.problem
    assert "REDIS_CLUSTER_URL" in error.problem


def test_one_sentinel_in_production_is_warned_about() -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"}
    without |= {"PUBLIC_BASE_URL": "https://app.example.com"}
    one = load_settings(without | SENTINELS | {"REDIS_SENTINELS": "s1"}, dotenv_path=None)
    assert [f.setting for f in setting_findings(one)] == ["REDIS_SENTINELS"]
    assert setting_findings(load_settings(without | SENTINELS, dotenv_path=None)) == []


def test_the_passkeys_relying_party_defaults_from_the_public_base_url() -> None:
    settings = load_settings({"PUBLIC_BASE_URL": "https://App.Example.com:8443/"}, dotenv_path=None)
    assert settings.webauthn_rp_id == "app.example.com"
    assert settings.webauthn_origins == ("https://App.Example.com:8443",)
    assert settings.webauthn_rp_name == "Tessera"


def test_passkey_origins_may_be_subdomains_of_the_relying_party() -> None:
    settings = load_settings(
        {
            "WEBAUTHN_RP_ID": "example.com",
            "WEBAUTHN_ORIGINS": "https://example.com, https://app.example.com",
        },
        dotenv_path=None,
    )
    assert settings.webauthn_origins == ("https://example.com", "https://app.example.com")


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"WEBAUTHN_RP_ID": "https://example.com"}, "WEBAUTHN_RP_ID", "not a host name"),
        ({"WEBAUTHN_ORIGINS": "localhost:8000"}, "WEBAUTHN_ORIGINS", "not an origin"),
        ({"WEBAUTHN_ORIGINS": "http://localhost:8000/app"}, "WEBAUTHN_ORIGINS", "not an origin"),
        (
            {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://badexample.com"},
            "WEBAUTHN_ORIGINS",
            "not on the relying party's domain",
        ),
        ({"WEBAUTHN_ORIGINS": "https://evil.test"}, "WEBAUTHN_ORIGINS", "'localhost'"),
        ({"WEBAUTHN_RP_NAME": "x" * 65}, "WEBAUTHN_RP_NAME", "length"),
    ],
)
def test_a_bad_passkey_setting_is_named(env: dict[str, str], variable: str, words: str) -> None:
    error = error_for(env)
    assert error.variable == variable
    assert words in str(error)
