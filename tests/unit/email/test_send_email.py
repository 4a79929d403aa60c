from __future__ import annotations

import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from pathlib import Path

import msgspec
import pytest

from tessera.features.email.adapters.eml_folder_mailer import EmlFolderMailer
from tessera.features.email.adapters.jinja_renderer import JinjaTemplateRenderer
from tessera.features.email.application.requests import email_requested
from tessera.features.email.application.send_email import EmailRequest, SendEmail
from tessera.features.email.domain.errors import UnknownTemplate
from tessera.shared.domain.errors import InvalidInput

SENDER = "Tessera <no-reply@tessera.test>"
LINK = "https://app.example.com/reset-password?token=t0k3n"
RESET = EmailRequest(
    template="password_reset",
    to="ada@example.com",
    context={"full_name": "Ada Lovelace", "link": LINK, "expires_minutes": 30},
)


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def send_email(outbox: Path) -> SendEmail:
    return SendEmail(JinjaTemplateRenderer(), EmlFolderMailer(outbox), SENDER)


def sent(outbox: Path) -> list[MimeMessage]:
    parser = BytesParser(policy=email.policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]


async def test_the_email_is_sent_from_the_sender_to_the_recipient_with_both_parts(
    send_email: SendEmail, outbox: Path
) -> None:
    await send_email.execute(RESET, key="7f9c1b2e-job")
    [mime] = sent(outbox)
    assert mime["From"] == SENDER
    assert mime["To"] == "ada@example.com"
    assert mime["Subject"] == "Reset your Tessera password"
    text = mime.get_body(("plain",))
    html = mime.get_body(("html",))
    assert text is not None
    assert html is not None
    assert LINK in text.get_content()
    assert "expires in 30 minutes" in text.get_content()
    assert 'href="https://app.example.com/reset-password?token=t0k3n"' in html.get_content()


async def test_the_message_id_comes_from_the_job_key_so_retries_share_it(
    outbox: Path,
) -> None:
    use_case = SendEmail(
        JinjaTemplateRenderer(), EmlFolderMailer(outbox), SENDER, message_domain="mail.test"
    )
    await use_case.execute(RESET, key="job-42")
    await use_case.execute(RESET, key="job-42")
    assert [m["Message-ID"] for m in sent(outbox)] == ["<job-42@mail.test>"] * 2


async def test_an_unknown_template_sends_nothing(send_email: SendEmail, outbox: Path) -> None:
    with pytest.raises(UnknownTemplate):
        await send_email.execute(EmailRequest("newsletter", "ada@example.com", {}), key="job-1")
    assert sent(outbox) == []


@pytest.mark.parametrize(
    ("key", "to"),
    [("job 1", "ada@example.com"), ("job>1", "ada@example.com"), ("job-1", "a@x.test\nBcc: b")],
)
async def test_a_key_or_recipient_that_would_break_the_headers_sends_nothing(
    send_email: SendEmail, outbox: Path, key: str, to: str
) -> None:
    with pytest.raises(InvalidInput):
        await send_email.execute(msgspec.structs.replace(RESET, to=to), key=key)
    assert sent(outbox) == []


def test_email_requested_is_an_email_send_event_whose_payload_round_trips() -> None:
    tenant = uuid.uuid4()
    occurred = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    context = {
        "full_name": "Ada",
        "event": "new sign-in",
        "ip_address": "203.0.113.7",
        "user_agent": "Firefox",
        "occurred_at": occurred,
    }
    event = email_requested("security_alert", "ada@example.com", context, tenant_id=tenant)
    assert event.type == "email.send"
    assert event.tenant_id == tenant
    wire = msgspec.json.decode(msgspec.json.encode(event.payload))
    request = msgspec.convert(wire, EmailRequest)
    assert request.template == "security_alert"
    assert request.to == "ada@example.com"
    assert request.context == {**context, "occurred_at": "2030-01-01T10:00:00Z"}


def test_email_requested_refuses_a_template_nobody_ships() -> None:
    with pytest.raises(UnknownTemplate):
        email_requested("welcome", "ada@example.com", {"full_name": "Ada"})
