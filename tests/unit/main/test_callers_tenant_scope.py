"""Which tenant an HTTP request's database work is scoped to: its caller's, settled by
`CallerMiddleware` before routing; work outside HTTP (jobs, sockets, commands) starts with
none and enters its own."""

from __future__ import annotations

import uuid
from typing import Any

from dishka import Scope

from tessera.main.ioc import make_container
from tessera.shared.application.callers import Admission
from tessera.shared.application.tenant_scope import ScopeState, TenantScope
from tessera.shared.domain.caller import Principal, Role
from tessera.shared.domain.errors import Unauthenticated
from tessera.shared.http.caller import CALLER_KEY
from tessera.shared.http.di import ConnectionScope
from tests.e2e.harness import settings_for

NO_TENANT = ScopeState(tenant_id=None, all_tenants=False)


async def test_an_http_request_is_scoped_to_its_callers_tenant_and_other_work_to_none() -> None:
    container = make_container(settings_for(jwt_secret_key="tenant-scope-test-key-of-forty-chars"))
    caller = Principal(uuid.uuid4(), uuid.uuid4(), Role.TENANT_ADMIN, uuid.uuid4())
    requests: list[dict[str, Any]] = [
        {CALLER_KEY: Admission(caller)},
        {CALLER_KEY: Unauthenticated()},
        {},
    ]
    states = []
    try:
        async with container(scope=Scope.SESSION) as http:
            for scope in requests:
                async with http({ConnectionScope: scope}) as request:
                    states.append((await request.get(TenantScope)).state)
        async with container() as job:
            states.append((await job.get(TenantScope)).state)
    finally:
        await container.close()
    assert states == [ScopeState(caller.tenant_id, all_tenants=False), *[NO_TENANT] * 3]
