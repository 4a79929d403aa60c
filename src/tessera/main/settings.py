"""Settings: the environment, a `.env` file and an optional YAML file, validated once.

Precedence, highest first: the process environment, `.env`, the YAML file named by
`CONFIG_FILE` (same keys in lower case), the defaults below. Every problem is reported as a
`ConfigError` naming the variable, so start-up can stop with one clear line.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import unquote, urlsplit

import msgspec
import yaml
from dotenv import dotenv_values

from tessera.shared.adapters.redis_topology import (
    ClusterTopology,
    RedisTopology,
    SentinelTopology,
    SingleTopology,
)

Environment = Literal["development", "test", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]

DEFAULT_DATA_DIR = "./var"
SQLITE_FILE = "tessera.db"
MIN_JWT_KEY_BYTES = 32
SECRET_FIELDS = frozenset(
    {
        "jwt_secret_key",
        "aws_secret_access_key",
        "smtp_password",
        "data_encryption_key",
        "redis_sentinel_password",
    }
)
URL_FIELDS = frozenset(
    {
        "database_url",
        "redis_url",
        "redis_cluster_url",
        "redis_sentinel_service",
        "s3_endpoint_url",
    }
)
SENTINEL_PORT = 26379
_SOURCE_UNSET = "default"


MIN_AUDIT_RETENTION_DAYS = 30
"""The floor of `AUDIT_RETENTION_DAYS`: migration 0010's prune function refuses younger rows."""


class ConfigError(Exception):
    """A setting is missing or wrong; `str()` is the one line start-up prints."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    environment: Environment = "development"
    data_dir: str = DEFAULT_DATA_DIR
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR}/{SQLITE_FILE}"
    database_pool_size: PositiveInt = 20
    database_max_overflow: NonNegativeInt = 0
    database_pool_timeout: PositiveFloat = 30.0
    database_transaction_pooling: bool = False
    redis_url: str | None = None
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_service: str | None = None
    redis_sentinel_password: str | None = None
    redis_cluster_url: str | None = None
    redis_key_prefix: str = ""
    jwt_secret_key: str = ""
    jwt_secret_generated: bool = False
    jwt_issuer: str = "tessera"
    jwt_audience: str = "tessera-api"
    access_token_ttl_seconds: PositiveInt = 3600
    refresh_token_ttl_seconds: PositiveInt = 604800
    session_idle_ttl_seconds: PositiveInt = 86400
    sessions_per_user_max: PositiveInt = 100
    known_device_days: PositiveInt = 30
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    smtp_host: str | None = None
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    email_from: str = "Tessera <no-reply@localhost>"
    data_encryption_key: str | None = None
    cors_allow_origins: tuple[str, ...] = ()
    log_level: LogLevel = "INFO"
    public_base_url: str = "http://localhost:8000"
    webauthn_rp_id: str | None = None
    webauthn_origins: tuple[str, ...] = ()
    webauthn_rp_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Tessera"
    webhook_allow_private_targets: bool = False
    webhook_retry_schedule: tuple[PositiveInt, ...] = (
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        50400,
        72000,
        86400,
    )
    password_hash_priority: Literal["hedged", "idle", "low", "normal"] = "hedged"  # noqa: S105 - not a secret
    rate_limit_enabled: bool = True
    rate_limit_auth_per_minute: PositiveInt = 10
    rate_limit_api_per_minute: PositiveInt = 100
    rate_limit_admin_per_minute: PositiveInt = 1000
    trusted_proxies: tuple[str, ...] = ()
    json_max_depth: Annotated[int, msgspec.Meta(ge=1, le=256)] = 64
    require_email_verification: bool = False
    email_per_account_per_hour: PositiveInt = 3
    account_retention_days: PositiveInt = 30
    backup_retention_days: PositiveInt = 14
    audit_retention_days: Annotated[int, msgspec.Meta(ge=MIN_AUDIT_RETENTION_DAYS)] = 365
    job_retry_base_seconds: PositiveFloat = 30.0
    job_lease_seconds: PositiveFloat = 300.0
    queue_redelivery_seconds: PositiveFloat = 60.0
    outbox_sweep_seconds: PositiveInt = 2
    scheduler_lease_seconds: Annotated[float, msgspec.Meta(ge=1)] = 15.0
    storage_quota_bytes_per_tenant: PositiveInt = 1_073_741_824
    file_max_bytes: Annotated[int, msgspec.Meta(ge=1, le=5 * 1024**3)] = 26_214_400

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_object_store(self) -> bool:
        """`S3_BUCKET` set: objects live in S3 (or a compatible store), else a local folder."""
        return self.s3_bucket is not None

    @property
    def is_embedded(self) -> bool:
        """No Redis: caches, sessions and queues live in this one process."""
        return self.redis_url is None and not self.redis_sentinels and not self.redis_cluster_url

    @property
    def redis(self) -> RedisTopology | None:
        """Where Redis is: one server, a Sentinel's primary or a Cluster (None: embedded)."""
        return _redis_topology(self)


def env_name(field: str) -> str:
    return field.upper()


_FIELDS = {f.name: f for f in msgspec.structs.fields(Settings)}
_DERIVED = {"jwt_secret_generated"}
_LIST_FIELDS = {
    "cors_allow_origins",
    "webhook_retry_schedule",
    "trusted_proxies",
    "redis_sentinels",
    "webauthn_origins",
}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_BOOL_WORDS |= {"0": False, "false": False, "no": False, "off": False}
_BOOL_FIELDS = {name for name, f in _FIELDS.items() if f.type is bool}


class LoadedSettings(msgspec.Struct, frozen=True):
    settings: Settings
    sources: dict[str, str]


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> Settings:
    return load_settings_with_sources(environ, dotenv_path=dotenv_path).settings


def load_settings_with_sources(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> LoadedSettings:
    env = dict(os.environ if environ is None else environ)
    layers: list[tuple[str, dict[str, Any]]] = []
    config_file = env.get("CONFIG_FILE") or _dotenv(dotenv_path).get("CONFIG_FILE")
    if config_file:
        layers.append(("file", _read_yaml(config_file)))
    layers.append((".env", _pick(_dotenv(dotenv_path))))
    layers.append(("env", _pick(env)))
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, values in layers:
        for key, value in values.items():
            raw[key] = value
            sources[key] = source
    settings = _validate(_convert(_with_default_paths(_normalise(raw))))
    if settings.jwt_secret_generated:
        sources["jwt_secret_key"] = "generated"  # noqa: S105 - a source label, not a secret
    return LoadedSettings(settings, sources)


def _dotenv(path: str | Path | None) -> dict[str, str]:
    if path is None or not Path(path).is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _pick(env: Mapping[str, str]) -> dict[str, Any]:
    names = (name for name in _FIELDS if name not in _DERIVED)
    return {name: env[env_name(name)] for name in names if env_name(name) in env}


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError("CONFIG_FILE", f"cannot read {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError("CONFIG_FILE", f"{path!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("CONFIG_FILE", f"{path!r} must hold a mapping of settings")
    unknown = sorted(str(k) for k in data if k not in _FIELDS or k in _DERIVED)
    if unknown:
        raise ConfigError("CONFIG_FILE", f"unknown key {unknown[0]!r} in {path!r}")
    return data


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn environment strings into the shapes msgspec converts; blank means unset."""
    out = {key: _normalise_value(key, value) for key, value in raw.items()}
    return {key: value for key, value in out.items() if value != ""}


def _normalise_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if key in _LIST_FIELDS:
        return [part.strip() for part in text.split(",") if part.strip()] if text else ""
    if key == "log_level":
        return text.upper()
    if key in _BOOL_FIELDS:
        return _BOOL_WORDS.get(text.lower(), text)
    return text


def sqlite_url(data_dir: str) -> str:
    """The default database: a SQLite file inside `DATA_DIR`."""
    return f"sqlite+aiosqlite:///{os.path.join(data_dir, SQLITE_FILE)}"


def listen_url(host: str, port: int) -> str:
    """`http://host:port` of a server listening there, as a browser on this machine reaches
    it: a wildcard address becomes the loopback one, an IPv6 address is bracketed."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - names
    name = wildcard.get(host, host)
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def _with_default_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """`DATA_DIR` moves every default path, the SQLite database's too."""
    if "database_url" in raw or "data_dir" not in raw:
        return raw
    return raw | {"database_url": sqlite_url(str(raw["data_dir"]))}


_PATH = re.compile(r"at `\$\.(\w+)")


def _convert(raw: dict[str, Any]) -> Settings:
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        match = _PATH.search(str(exc))
        if match is None:
            raise ConfigError("configuration", str(exc)) from None
        name = match.group(1)
        raise ConfigError(env_name(name), _problem(name, str(exc), raw.get(name))) from None


def _problem(name: str, message: str, got: Any) -> str:
    """Rephrase msgspec's message for someone editing an environment file."""
    allowed = get_args(_FIELDS[name].type)
    if message.startswith("Invalid enum value") and allowed:
        return f"must be one of {', '.join(allowed)}, not {got!r}"
    problem = message.split(" - at ", maxsplit=1)[0].replace("Expected", "expected", 1)
    if isinstance(got, (list, tuple)):
        return problem.replace(", got `str`", " in every item, got a word").replace("`", "")
    return problem.replace(", got `str`", "").replace("`", "") + f", not {str(got)!r}"


def _validate(s: Settings) -> Settings:
    changes: dict[str, Any] = {"database_url": _database_url(s.database_url)}
    _redis_topology(s)
    _check_key_prefix(s)
    _require_scheme("PUBLIC_BASE_URL", s.public_base_url, ("http", "https"))
    if s.s3_endpoint_url is not None:
        _require_scheme("S3_ENDPOINT_URL", s.s3_endpoint_url, ("http", "https"))
        if s.s3_bucket is None:
            raise ConfigError("S3_BUCKET", "is required when S3_ENDPOINT_URL is set")
    for origin in s.cors_allow_origins:
        if origin != "*":
            _require_scheme("CORS_ALLOW_ORIGINS", origin, ("http", "https"))
    for proxy in s.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError("TRUSTED_PROXIES", f"{proxy!r} is not an address or CIDR") from None
    if s.data_encryption_key is not None:
        _check_data_key(s.data_encryption_key)
    rp_id, origins = webauthn_relying_party(s)
    changes |= {"webauthn_rp_id": rp_id, "webauthn_origins": origins}
    if s.jwt_secret_key:
        if len(s.jwt_secret_key.encode()) < MIN_JWT_KEY_BYTES:
            raise ConfigError("JWT_SECRET_KEY", f"must be at least {MIN_JWT_KEY_BYTES} bytes")
    elif not s.is_production:
        changes |= {"jwt_secret_key": secrets.token_urlsafe(48), "jwt_secret_generated": True}
    validated = msgspec.structs.replace(s, **changes)
    if validated.is_production:
        _refuse_insecure_defaults(validated)
    return validated


def webauthn_relying_party(s: Settings) -> tuple[str, tuple[str, ...]]:
    """`WEBAUTHN_RP_ID` defaults to the host of `PUBLIC_BASE_URL`, `WEBAUTHN_ORIGINS` to its
    origin; every origin must be on the relying party's domain (its host, or a subdomain),
    as browsers require."""
    public = urlsplit(s.public_base_url)
    rp_id = (s.webauthn_rp_id or public.hostname or "").lower()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", rp_id):
        raise ConfigError("WEBAUTHN_RP_ID", f"{rp_id!r} is not a host name such as example.com")
    origins = s.webauthn_origins or (f"{public.scheme}://{public.netloc}",)
    for origin in origins:
        parts = urlsplit(origin)
        host = (parts.hostname or "").lower()
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.username is not None
        ):
            raise ConfigError(
                "WEBAUTHN_ORIGINS", f"{origin!r} is not an origin such as https://example.com"
            )
        if host != rp_id and not host.endswith(f".{rp_id}"):
            raise ConfigError(
                "WEBAUTHN_ORIGINS", f"{origin!r} is not on the relying party's domain {rp_id!r}"
            )
    return rp_id, tuple(origin.rstrip("/") for origin in origins)


def _check_key_prefix(s: Settings) -> None:
    if "{" in s.redis_key_prefix or "}" in s.redis_key_prefix:
        # A brace there would move the hash tag that keeps each user's session keys in
        # one Redis Cluster slot.
        raise ConfigError("REDIS_KEY_PREFIX", "must not contain { or }")


def _database_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError("DATABASE_URL", "must be a URL such as postgresql://user@host/db")
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise ConfigError("DATABASE_URL", f"unsupported scheme {scheme!r}; use postgresql or sqlite")


def _redis_topology(s: Settings) -> RedisTopology | None:
    """The one Redis topology the settings name, or a `ConfigError` saying what is off."""
    chosen = [
        name
        for name, value in (
            ("REDIS_URL", s.redis_url),
            ("REDIS_SENTINELS", s.redis_sentinels),
            ("REDIS_CLUSTER_URL", s.redis_cluster_url),
        )
        if value
    ]
    if len(chosen) > 1:
        raise ConfigError(
            chosen[1],
            (
                f"cannot be set together with {chosen[0]}: choose one server (REDIS_URL), "
                "Sentinel (REDIS_SENTINELS with REDIS_SENTINEL_SERVICE) or a Cluster "
                "(REDIS_CLUSTER_URL)"
            ),
        )
    for name, value in (
        ("REDIS_SENTINEL_SERVICE", s.redis_sentinel_service),
        ("REDIS_SENTINEL_PASSWORD", s.redis_sentinel_password),
    ):
        if value is not None and not s.redis_sentinels:
            raise ConfigError(name, "applies only with REDIS_SENTINELS, which is not set")
    if s.redis_url is not None:
        _require_scheme("REDIS_URL", s.redis_url, ("redis", "rediss", "unix"))
        return SingleTopology(s.redis_url)
    if s.redis_cluster_url is not None:
        _require_scheme("REDIS_CLUSTER_URL", s.redis_cluster_url, ("redis", "rediss"))
        if urlsplit(s.redis_cluster_url).path.strip("/") not in ("", "0"):
            raise ConfigError("REDIS_CLUSTER_URL", "a cluster has database 0 only; drop the /N")
        return ClusterTopology(s.redis_cluster_url)
    if not s.redis_sentinels:
        return None
    if s.redis_sentinel_service is None:
        raise ConfigError("REDIS_SENTINEL_SERVICE", "is required when REDIS_SENTINELS is set")
    return _sentinel_topology(
        tuple(map(_sentinel_address, s.redis_sentinels)),
        s.redis_sentinel_service,
        s.redis_sentinel_password,
    )


def _sentinel_address(entry: str) -> tuple[str, int]:
    """`host:port`, `[v6 address]:port`, or a host alone on Sentinel's usual port."""
    if ":" not in entry:
        return entry, SENTINEL_PORT
    host, _, port = entry.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or (":" in host and not entry.startswith("[")) or not port.isdigit():
        raise ConfigError("REDIS_SENTINELS", f"{entry!r} is not host:port")
    if not 1 <= int(port) <= 65535:
        raise ConfigError("REDIS_SENTINELS", f"{entry!r} has no valid port")
    return host, int(port)


def _sentinel_topology(
    sentinels: tuple[tuple[str, int], ...], service: str, sentinel_password: str | None
) -> SentinelTopology:
    """`service` is the monitored name, or a URL whose host is that name and whose other
    parts are the primary's: `rediss://user:password@mymaster/2`."""
    if "://" not in service:
        return SentinelTopology(sentinels, service, sentinel_password=sentinel_password)
    parts = urlsplit(service)
    name = unquote(parts.netloc.rpartition("@")[2])  # as written: names are case-sensitive
    db = parts.path.strip("/") or "0"
    if parts.scheme not in ("redis", "rediss") or not name or ":" in name:
        raise ConfigError(
            "REDIS_SENTINEL_SERVICE",
            (
                f"{_mask_url(service)!r} is neither a name nor a URL such as "
                "rediss://:password@mymaster/0"
            ),
        )
    if not db.isdigit():
        raise ConfigError("REDIS_SENTINEL_SERVICE", f"database {db!r} is not a number")
    return SentinelTopology(
        sentinels,
        name,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        db=int(db),
        tls=parts.scheme == "rediss",
        sentinel_password=sentinel_password,
    )


def _require_scheme(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.netloc):
        raise ConfigError(variable, f"{_mask_url(url)!r} is not a {'/'.join(schemes)} URL")


def _check_data_key(value: str) -> None:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("DATA_ENCRYPTION_KEY", "must be base64") from None
    if len(key) != 32:
        raise ConfigError("DATA_ENCRYPTION_KEY", f"must decode to 32 bytes, not {len(key)}")


def _refuse_insecure_defaults(s: Settings) -> None:
    missing = "is required when ENVIRONMENT=production"
    if not s.jwt_secret_key:
        raise ConfigError("JWT_SECRET_KEY", missing)
    if s.data_encryption_key is None:
        raise ConfigError("DATA_ENCRYPTION_KEY", missing)
    if s.uses_sqlite:
        raise ConfigError("DATABASE_URL", "must be a PostgreSQL URL when ENVIRONMENT=production")
    if s.is_embedded:
        raise ConfigError(
            "REDIS_URL",
            f"{missing} (or REDIS_SENTINELS with REDIS_SENTINEL_SERVICE, or REDIS_CLUSTER_URL)",
        )


def require_object_store(s: Settings) -> None:
    """For the commands that store objects (`serve`, `worker`, `backup`): production keeps
    them in S3. The others (`migrate`, `create-admin`, `check-config`, ...) do not ask."""
    if s.is_production and s.s3_bucket is None:
        raise ConfigError("S3_BUCKET", "is required when ENVIRONMENT=production")


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(loaded: LoadedSettings, generated: Mapping[str, str] | None = None) -> list[str]:
    """`NAME=value  (source)` lines for `tessera check-config`, secrets masked; `generated`
    names the unset secrets that are generated where they are used, with that source."""
    lines = []
    generated = generated or {}
    for name in _FIELDS:
        if name in _DERIVED:
            continue
        value = getattr(loaded.settings, name)
        if name in generated:
            lines.append(f"{env_name(name)}=***  ({generated[name]})")
            continue
        if name in SECRET_FIELDS and value:
            shown = "***"
        elif name in URL_FIELDS and isinstance(value, str):
            shown = _mask_url(value)
        elif isinstance(value, tuple):
            shown = ",".join(str(v) for v in value)
        elif value is None:
            shown = ""
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"{env_name(name)}={shown}  ({loaded.sources.get(name, _SOURCE_UNSET)})")
    return lines
