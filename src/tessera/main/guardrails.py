"""Production guardrails: settings that are valid but unsafe, checked before serving.

A database role that is a superuser, owns the tables or has BYPASSRLS sees every tenant's
rows: row-level security would silently be off. In production the server and the worker
refuse to start with one; in development they say so. Settings that open the service wider
than intended are warned about in production.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import text

from tessera.main.settings import Settings
from tessera.shared.adapters.database import create_engine
from tessera.shared.adapters.outages import outage

Level = Literal["refuse", "warn"]

_ROLE = text(
    """
    SELECT current_user AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls,
           (SELECT count(*) FROM pg_class c
             WHERE c.relkind = 'r' AND c.relrowsecurity
               AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owned
      FROM pg_roles r WHERE r.rolname = current_user
    """
)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104 - a name


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    setting: str
    message: str

    def line(self) -> str:
        prefix = "refusing to start" if self.level == "refuse" else "warning"
        return f"tessera: {prefix}: {self.setting}: {self.message}"


def setting_findings(settings: Settings) -> list[Finding]:
    """Production settings that are allowed but open the service wider than meant."""
    if not settings.is_production:
        return []
    findings = []
    if settings.s3_bucket is None:
        findings.append(
            Finding(
                "warn",
                "S3_BUCKET",
                (
                    "is not set: `tessera serve`, `worker` and `backup` refuse to start without it "
                    "in production (the other commands do not need it)"
                ),
            )
        )
    everyone = [p for p in settings.trusted_proxies if ipaddress.ip_network(p).prefixlen == 0]
    if everyone:
        findings.append(
            Finding(
                "warn",
                "TRUSTED_PROXIES",
                (
                    f"{', '.join(everyone)} trusts X-Forwarded-For from every address, so any "
                    "client chooses the address its rate limits and audit lines are kept under; "
                    "list your proxies' addresses instead"
                ),
            )
        )
    if settings.webhook_allow_private_targets:
        findings.append(
            Finding(
                "warn",
                "WEBHOOK_ALLOW_PRIVATE_TARGETS",
                (
                    "is on: a tenant admin can point webhooks at private, loopback and metadata "
                    "addresses inside your network"
                ),
            )
        )
    if len(settings.redis_sentinels) == 1:
        findings.append(
            Finding(
                "warn",
                "REDIS_SENTINELS",
                (
                    "lists one sentinel: while it is down no process finds the primary, failover "
                    "or not; list every sentinel"
                ),
            )
        )
    host = (urlsplit(settings.public_base_url).hostname or "").lower()
    if host in _LOCAL_HOSTS or host.endswith(".localhost"):
        findings.append(
            Finding(
                "warn",
                "PUBLIC_BASE_URL",
                (
                    f"{settings.public_base_url} is on this machine: links in emails "
                    "(verification, password reset, invitations) will not open for your users"
                ),
            )
        )
    return findings


async def database_role_findings(settings: Settings) -> list[Finding]:
    """What the role in DATABASE_URL could do past row-level security (PostgreSQL only)."""
    if settings.uses_sqlite:
        return []
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            role = (await connection.execute(_ROLE)).one()
    except Exception as error:
        down = outage(error)
        if down is None:
            raise
        return [Finding("warn", "DATABASE_URL", f"its role was not checked: {down.describe()}")]
    finally:
        await engine.dispose()
    powers = []
    if role.superuser:
        powers.append("is a superuser")
    if role.bypass_rls:
        powers.append("has BYPASSRLS")
    if role.owned:
        powers.append(f"owns {role.owned} of the tables")
    if not powers:
        return []
    level: Level = "refuse" if settings.is_production else "warn"
    message = (
        f"role {role.name} {' and '.join(powers)}, so row-level security does not hold for "
        "it; connect as the service's own role (tessera_app) and migrate as the owner"
    )
    return [Finding(level, "DATABASE_URL", message)]


async def guardrail_findings(settings: Settings) -> list[Finding]:
    return setting_findings(settings) + await database_role_findings(settings)
