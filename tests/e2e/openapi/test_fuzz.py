"""Schemathesis against a running Tessera: the OpenAPI document must tell the truth.

A real server process (embedded mode), an admin's token, every operation: examples,
coverage (boundary and negative values of every parameter and field), fuzzing, and
stateful sequences following the document's links (create, then read, change, delete), with
every check on: no 5xx, every status and body as documented, every request the document
calls invalid refused and every valid one accepted, except where `schemathesis.toml`
names a business rule JSON Schema cannot state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import running_server, tessera

HERE = Path(__file__).parent
EMAIL, PASSWORD = "fuzz-admin@example.com", "fuzz-admin-pass-9"
EXAMPLES_PER_OPERATION = "25"
# These end the admin's own session or account, after which every call is a 401.
SESSION_ENDING = r"^/api/v1/(auth/logout(-all)?|auth/sessions/\{session_id\}|users/me)$"
SEED = os.environ.get("FUZZ_SEED", "20261202")  # another seed: `FUZZ_SEED=N pytest ...`
# Litestar's automatic OPTIONS handler lists the methods of a route as first registered,
# not of the route it became once merged with the other handlers of the same path, so
# `Allow` can miss some (a Litestar defect; the 405 answers are right).
SKIPPED_CHECKS = "allow_header_conformance"


@pytest.mark.timeout(660)  # ~40 s on a quiet machine; schemathesis itself is bounded at 600 s
def test_every_operation_keeps_to_the_openapi_document(tmp_path: Path) -> None:
    env = {
        "JWT_SECRET_KEY": "openapi-fuzz-test-key-of-forty-chars!!!!",
        "RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
        "RATE_LIMIT_API_PER_MINUTE": "1000000",
        "RATE_LIMIT_ADMIN_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    created = tessera(
        "create-admin",
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--full-name",
        "Fuzz",
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    with running_server(tmp_path, env) as server:
        login = httpx.post(
            f"{server.url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
        )
        token = login.json()["data"]["access_token"]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{server.url}/schema/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                SKIPPED_CHECKS,
                "--header",
                f"Authorization: Bearer {token}",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                EXAMPLES_PER_OPERATION,
                "--exclude-path-regex",
                SESSION_ENDING,
                "--seed",
                SEED,
                # One thread: Hypothesis reads strategies' source with `ast.parse`, and on
                # CPython 3.11 two threads parsing at once can fail with "AST constructor
                # recursion depth mismatch" (CPython gh-106905), which schemathesis
                # reports as a runtime error of the run (CI saw it once).
                "--workers",
                "1",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        errors = [line for line in server.lines() if '"level": "ERROR"' in line]
    report = run.stdout[-12000:]
    assert run.returncode == 0, report
    assert "Tested:" in report
    assert errors == []
