"""Two tenants to test isolation with: Acme and Globex, each with a tenant admin and a
user, and one admin. Members are moved straight in the database where the API cannot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import update

from tessera.features.identity.adapters.models import UserModel
from tessera.shared.adapters.database import create_engine
from tests import services
from tests.e2e.harness import app_settings
from tests.e2e.identity.conftest import Client, bearer, login, register


@dataclass(frozen=True)
class World:
    """Two tenants, Acme and Globex, each with a tenant admin and a user; one admin."""

    acme: str
    globex: str
    headers: dict[str, dict[str, str]]


async def set_membership(client: Client, email: str, *, role: str, tenant_id: str) -> None:
    """Straight in the database (there is no invitation yet), through an engine of this
    test's own: the app's pool belongs to the app's event loop."""
    settings = await app_settings(client)
    engine = create_engine(services.as_owner(settings.database_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(UserModel)
                .where(UserModel.email == email)
                .values(role=role, tenant_id=uuid.UUID(tenant_id))
            )
    finally:
        await engine.dispose()


async def build_world(client: Client) -> World:
    acme = (await register(client, "boss@acme.test", tenant_name="Acme"))["tenant_id"]
    globex = (await register(client, "boss@globex.test", tenant_name="Globex"))["tenant_id"]
    for email, tenant in (("staff@acme.test", acme), ("staff@globex.test", globex)):
        await register(client, email)
        await set_membership(client, email, role="user", tenant_id=tenant)
    await register(client, "root@ops.test", tenant_name="Operations")
    await set_membership(client, "root@ops.test", role="admin", tenant_id=acme)
    emails = {
        "acme_admin": "boss@acme.test",
        "acme_user": "staff@acme.test",
        "globex_admin": "boss@globex.test",
        "globex_user": "staff@globex.test",
        "admin": "root@ops.test",
    }
    headers = {name: bearer(await login(client, email)) for name, email in emails.items()}
    return World(acme=acme, globex=globex, headers=headers)
