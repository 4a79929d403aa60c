"""Schemathesis over the whole OpenAPI document with hostile strings, on the production stack.

`tessera serve` on PostgreSQL (as the app role, under row-level security), Redis and S3
(moto's server), called as a user, as a tenant admin and as an admin (one run each): the
examples, coverage (boundary and negative values), fuzzing and stateful (following the
document's links from created resources) phases, with the generated requests salted by
`hostile_hooks` (NUL, lone surrogates, right-to-left overrides, very
long strings, JSON nested past `JSON_MAX_DEPTH`, odd User-Agents). Every answer must be no
5xx and have a documented status, body and content type; the server logs no error.

`just test` runs a few examples per operation and a fixed seed; `just fuzz` many more
(`FUZZ_EXAMPLES`), with a new seed each time (`FUZZ_SEED`).
The checks are run by schemathesis' command line: its pytest loader (`from_fixture`)
does not run on pytest 9.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.identity.conftest import SECRET, CheapHashing
from tests.e2e.processes import running_server
from tests.e2e.world import World, build_world
from tests.fakes import s3_server as fake_s3
from tests.fakes.s3_server import FakeS3Server

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).parents[3]
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "5")
SEED = os.environ.get("FUZZ_SEED", "20261206")
RUN_SECONDS = 300 + 10 * int(EXAMPLES)  # ~30 s for 5 examples on a quiet machine
ROLES = {"user": "acme_user", "tenant_admin": "acme_admin", "admin": "admin"}
# These end the caller's own session or account, after which every call is a 401.
SESSION_ENDING = r"^/api/v1/(auth/logout(-all)?|auth/sessions/\{session_id\}|users/me)$"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
    )
)


@pytest.fixture
async def environment(
    postgres_url: str, redis_prefix: str, s3_server: FakeS3Server, tmp_path: Path
) -> dict[str, str]:
    await services.migrate(postgres_url)
    return {
        "DATABASE_URL": await services.as_app_role(postgres_url),
        "REDIS_URL": services.TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_BUCKET": s3_server.create_bucket(),
        "AWS_ACCESS_KEY_ID": fake_s3.ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": fake_s3.SECRET_ACCESS_KEY,
        "JWT_SECRET_KEY": SECRET,
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),  # as production
        "RATE_LIMIT_ENABLED": "false",
        "PASSWORD_HASH_PRIORITY": "normal",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def world(environment: dict[str, str]) -> World:
    settings = settings_for(**{name.lower(): value for name, value in environment.items()})
    async with client_for(settings, CheapHashing()) as client:
        return await build_world(client)


@pytest.mark.timeout(RUN_SECONDS + 60)
@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_hostile_input_gets_a_5xx_or_an_undocumented_answer(
    role: str, environment: dict[str, str], world: World, tmp_path: Path
) -> None:
    token = world.headers[ROLES[role]]["Authorization"]
    with running_server(tmp_path, environment) as server:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--no-color",
                "run",
                f"{server.url}/schema/openapi.json",
                "--checks",
                CHECKS,
                "--header",
                f"Authorization: {token}",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                EXAMPLES,
                "--exclude-path-regex",
                SESSION_ENDING,
                "--seed",
                SEED,
                "--workers",
                "1",
                "--generation-database",
                "none",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
            env=os.environ
            | {
                "SCHEMATHESIS_HOOKS": "tests.e2e.openapi.hostile_hooks",
                "PYTHONPATH": str(REPOSITORY),
            },
        )
        errors = [line for line in server.lines() if '"level": "ERROR"' in line]
    report = f"seed {SEED}\n" + run.stdout[-15000:] + run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "Tested:" in report
    assert errors == []
