"""What `tessera tasks dead` may show of a job (issue 18: it printed live one-time links)."""

from __future__ import annotations

import msgspec

from tessera.features.jobs.domain.job import DeadJob, Job
from tessera.features.jobs.domain.redaction import REDACTED, redacted, shown

RESET = {
    "template": "password_reset",
    "to": "alice@example.com",
    "context": {
        "full_name": "Alice",
        "expires_minutes": 30,
        "link": "https://app.example/reset-password?token=Zm9vYmFy-_secret",
    },
}
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


def test_a_one_time_link_keeps_its_page_and_loses_its_token() -> None:
    assert redacted(RESET) == {
        "template": "password_reset",
        "to": "alice@example.com",
        "context": {
            "full_name": "Alice",
            "expires_minutes": 30,
            "link": f"https://app.example/reset-password?token={REDACTED}",
        },
    }


def test_secret_fields_parameters_and_jwts_go_whatever_their_place() -> None:
    data = {
        "token": "t",
        "webhook_secret": "s",
        "new_password": "p",
        "Authorization": "Bearer x",
        "urls": [
            "https://app.example/accept-invitation?role=user&token=abc&x=1",
            "https://app.example/verify-email#token=abc",
            "https://bucket.example/k?X-Amz-Signature=abc&X-Amz-Credential=def",
        ],
        "note": f"refused {JWT} at https://x.example/cb?code=123&state=ok",
    }
    assert redacted(data) == {
        "token": REDACTED,
        "webhook_secret": REDACTED,
        "new_password": REDACTED,
        "Authorization": REDACTED,
        "urls": [
            f"https://app.example/accept-invitation?role=user&token={REDACTED}&x=1",
            f"https://app.example/verify-email#token={REDACTED}",
            f"https://bucket.example/k?X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}",
        ],
        "note": f"refused {REDACTED} at https://x.example/cb?code={REDACTED}&state=ok",
    }


def test_jobs_without_secrets_are_shown_as_they_are() -> None:
    data = {"delivery_id": "e1cb", "status_code": 500, "tenant_id": "4e58", "sessions": [1, 2]}
    assert redacted(data) == data


def test_shown_hides_the_payloads_and_errors_secrets_and_leaves_the_job_alone() -> None:
    job = Job(job_id="81c7", type="email.send", data=RESET, attempts=3, created_at="now")
    dead = DeadJob(job=job, failed_at="later", last_error=f"MailNotSent: {RESET['context']}")
    seen = shown(dead)
    assert "Zm9vYmFy" not in msgspec.json.encode(seen).decode()
    assert (seen.job.job_id, seen.job.type, seen.job.attempts) == ("81c7", "email.send", 3)
    assert seen.job.data["to"] == "alice@example.com"
    assert dead.job.data == RESET, "the stored job keeps its link for a replay"
