"""The account_security benchmark's baseline is Tessera with an audit trail that records
nothing, and only that: Tessera's own container still records."""

from __future__ import annotations

from bench.tessera_without_audit import NoAuditProvider, NoAuditTrail

from tessera.features.audit.adapters.sql_audit import SqlAuditTrail
from tessera.features.audit.application.ports import AuditTrail
from tessera.main.ioc import make_container
from tests.e2e.harness import settings_for

KEY = "audit-baseline-test-key-of-forty-chars!!"


async def _trail(*overrides: NoAuditProvider) -> AuditTrail:
    container = make_container(settings_for(jwt_secret_key=KEY), *overrides)
    try:
        async with container() as request:
            trail: AuditTrail = await request.get(AuditTrail)
            return trail
    finally:
        await container.close()


async def test_the_baseline_s_container_gives_every_request_a_trail_that_records_nothing() -> None:
    trail = await _trail(NoAuditProvider())

    assert isinstance(trail, NoAuditTrail)


async def test_tessera_s_own_container_records_to_the_database() -> None:
    assert isinstance(await _trail(), SqlAuditTrail)
