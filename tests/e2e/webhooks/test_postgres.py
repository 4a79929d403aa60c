"""The webhooks API on PostgreSQL under row-level security, with Redis: the tenant wall
holds in the database too, and without `DATA_ENCRYPTION_KEY` webhooks are a clear 503."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.identity.conftest import Client, production_app, production_client
from tests.e2e.webhooks.conftest import WEBHOOKS, register_webhook
from tests.e2e.webhooks.test_delivery import tenant_admin
from tests.e2e.world import build_world

__all__ = ["production_client"]

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["direct", "pgbouncer"])
async def keyed_client(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> AsyncIterator[Client]:
    pooler = request.getfixturevalue("pgbouncer") if request.param == "pgbouncer" else None
    async with production_app(
        tmp_path,
        redis_prefix,
        pooler=pooler,
        rate_limit_enabled="false",
        data_encryption_key=base64.b64encode(os.urandom(32)).decode(),
        webhook_allow_private_targets="true",
    ) as running:
        yield running


async def test_without_a_data_encryption_key_registering_is_a_503_naming_it(
    production_client: Client,
) -> None:
    headers = await tenant_admin(production_client)
    body = {"url": "http://93.184.216.34/hook", "events": ["user.created"]}
    response = await production_client.post(WEBHOOKS, json=body, headers=headers)
    assert response.status_code == 503
    assert "DATA_ENCRYPTION_KEY" in response.json()["error"]["message"]


async def test_under_row_level_security_a_webhook_stays_in_its_tenant(
    keyed_client: Client,
) -> None:
    world = await build_world(keyed_client)
    hook = await register_webhook(keyed_client, world.headers["acme_admin"], "http://127.0.0.1:9/h")
    url = f"{WEBHOOKS}/{hook['id']}"
    globex = world.headers["globex_admin"]
    assert (await keyed_client.get(url, headers=globex)).status_code == 404
    assert (await keyed_client.delete(url, headers=globex)).status_code == 404
    assert (await keyed_client.get(WEBHOOKS, headers=globex)).json()["data"] == []
    as_admin = await keyed_client.get(url, headers=world.headers["admin"])
    listed = await keyed_client.get(
        WEBHOOKS, params={"tenant_id": world.acme}, headers=world.headers["admin"]
    )
    assert as_admin.json()["data"]["tenant_id"] == world.acme
    assert [item["id"] for item in listed.json()["data"]] == [hook["id"]]
