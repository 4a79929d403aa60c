"""The `Mailer` contract, run against the SMTP adapter (a real SMTP server) and the folder."""

from __future__ import annotations

import asyncio
import email.policy
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
import structlog

from tessera.features.email.adapters.eml_folder_mailer import EmlFolderMailer
from tessera.features.email.adapters.smtp_mailer import SmtpMailer
from tessera.features.email.application.ports import Mailer
from tessera.features.email.domain.errors import MailNotSent
from tessera.features.email.domain.message import EmailMessage
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.tls import TestAuthority

PASSWORD = "s3cret-Pa55word"


@dataclass
class Rig:
    mailer: Mailer
    delivered: Callable[[], list[MimeMessage]]


def _read_folder(folder: Path) -> list[MimeMessage]:
    parser = BytesParser(policy=email.policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture(params=["smtp", "folder"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "folder":
        folder = tmp_path / "outbox"
        yield Rig(EmlFolderMailer(folder), lambda: _read_folder(folder))
        return
    with FakeSmtpServer() as server:
        mailer = SmtpMailer(server.host, server.port, starttls=False, timeout=5)
        yield Rig(mailer, lambda: list(server.messages))


def message(key: str = "job-1", **changes: object) -> EmailMessage:
    fields: dict[str, object] = {
        "message_id": f"<{key}@tessera>",
        "sender": "Tessera <no-reply@tessera.test>",
        "to": ("alice@example.com",),
        "subject": "Grüße — ✓ your account",
        "text": "Hello Alice,\nGrüße — ✓\n",
        "html": "<p>Hello Alice,</p><p>Grüße — ✓</p>\n",
    }
    return EmailMessage(**{**fields, **changes})  # type: ignore[arg-type]


def body(mime: MimeMessage, subtype: str) -> str:
    part = mime.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    assert part.get_content_type() == f"text/{subtype}"
    return str(part.get_content())


async def test_a_sent_message_arrives_once_with_its_headers_and_both_parts(rig: Rig) -> None:
    await rig.mailer.send(message())
    [mime] = rig.delivered()
    assert mime["Message-ID"] == "<job-1@tessera>"
    assert mime["From"] == "Tessera <no-reply@tessera.test>"
    assert mime["To"] == "alice@example.com"
    assert mime["Subject"] == "Grüße — ✓ your account"
    assert mime["Date"] is not None
    assert mime.get_content_type() == "multipart/alternative"
    assert body(mime, "plain") == "Hello Alice,\nGrüße — ✓\n"
    assert body(mime, "html") == "<p>Hello Alice,</p><p>Grüße — ✓</p>\n"


async def test_every_recipient_is_addressed(rig: Rig) -> None:
    await rig.mailer.send(message(to=("alice@example.com", "bob@example.org")))
    [mime] = rig.delivered()
    assert mime["To"].addresses[0].addr_spec == "alice@example.com"
    assert mime["To"].addresses[1].addr_spec == "bob@example.org"


async def test_each_message_arrives_separately(rig: Rig) -> None:
    await rig.mailer.send(message("job-1"))
    await rig.mailer.send(message("job-2", subject="Second"))
    delivered = rig.delivered()
    assert sorted(m["Message-ID"] for m in delivered) == ["<job-1@tessera>", "<job-2@tessera>"]


async def test_check_passes_when_the_mail_system_is_up(rig: Rig) -> None:
    await rig.mailer.check()
    assert rig.delivered() == [], "a health check sends nothing"


# SMTP only


async def test_a_refused_message_is_mail_not_sent_and_not_kept(smtp: FakeSmtpServer) -> None:
    smtp.refuse_with = "550 5.7.1 rejected"
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=False, timeout=5)
    with pytest.raises(MailNotSent, match="550"):
        await mailer.send(message())
    assert smtp.messages == []
    assert len(smtp.attempts) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_that_is_not_listening_is_mail_not_sent_within_the_timeout() -> None:
    mailer = SmtpMailer("127.0.0.1", _closed_port(), starttls=False, timeout=2)
    started = time.monotonic()
    with pytest.raises(MailNotSent):
        await mailer.send(message())
    with pytest.raises(MailNotSent):
        await mailer.check()
    assert time.monotonic() - started < 4


async def test_a_server_slower_than_the_timeout_is_mail_not_sent_and_keeps_nothing(
    smtp: FakeSmtpServer,
) -> None:
    smtp.accept_delay = 0.6
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=False, timeout=0.2)
    with pytest.raises(MailNotSent):
        await mailer.send(message())
    await asyncio.sleep(0.6)
    assert smtp.attempts, "the message reached DATA"
    assert smtp.messages == [], "the server never acknowledged it, so it kept nothing"


async def test_a_server_that_comes_back_is_used_again(smtp: FakeSmtpServer) -> None:
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=False, timeout=2)
    await mailer.send(message("job-1"))
    smtp.stop()
    with pytest.raises(MailNotSent):
        await mailer.check()
    smtp.start()
    await mailer.check()
    await mailer.send(message("job-2"))
    assert [m["Message-ID"] for m in smtp.messages] == ["<job-1@tessera>", "<job-2@tessera>"]


async def test_login_with_the_right_password_delivers() -> None:
    with FakeSmtpServer(credentials=("mailer", PASSWORD)) as server:
        mailer = SmtpMailer(
            server.host, server.port, username="mailer", password=PASSWORD, starttls=False
        )
        await mailer.check()
        await mailer.send(message())
        assert len(server.messages) == 1


async def test_a_wrong_password_is_mail_not_sent_and_never_shown() -> None:
    with FakeSmtpServer(credentials=("mailer", "another-password")) as server:
        mailer = SmtpMailer(
            server.host, server.port, username="mailer", password=PASSWORD, starttls=False
        )
        for attempt in (mailer.send(message()), mailer.check()):
            with pytest.raises(MailNotSent) as caught:
                await attempt
            assert PASSWORD not in str(caught.value)
            assert PASSWORD not in repr(caught.value.__cause__)
        assert PASSWORD not in repr(mailer)
        assert server.messages == []


async def test_starttls_required_but_not_offered_fails_rather_than_sending_in_clear(
    smtp: FakeSmtpServer,
) -> None:
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=True, timeout=5)
    with pytest.raises(MailNotSent):
        await mailer.send(message())
    assert smtp.messages == []


# SMTP: each failure names its cause (for /health/email, the worker's log, tasks dead)


async def _causes(mailer: SmtpMailer) -> list[str]:
    """The messages of the failures of `send` and of `check`."""
    found = []
    for attempt in (mailer.send(message()), mailer.check()):
        with pytest.raises(MailNotSent) as caught:
            await attempt
        found.append(caught.value.message)
    return found


async def test_nothing_listening_is_named_connection_refused() -> None:
    mailer = SmtpMailer("127.0.0.1", _closed_port(), starttls=True, timeout=5)
    for cause in await _causes(mailer):
        assert cause.startswith("connection refused: "), cause
        assert "SMTP_HOST:SMTP_PORT" in cause


async def test_starttls_not_offered_is_named_so(smtp: FakeSmtpServer) -> None:
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=True, timeout=5)
    for cause in await _causes(mailer):
        assert cause.startswith("TLS not offered: "), cause
        assert "SMTP_STARTTLS" in cause
    assert smtp.messages == []


async def test_an_untrusted_certificate_is_named_tls_handshake_failed(tmp_path: Path) -> None:
    authority = TestAuthority(tmp_path)  # the client does not trust it
    with FakeSmtpServer(starttls=authority.server_context()) as server:
        mailer = SmtpMailer(server.host, server.port, starttls=True, timeout=5)
        for cause in await _causes(mailer):
            assert cause.startswith("TLS handshake failed (unable to get local issuer"), cause
        assert server.messages == []


async def test_starttls_with_a_trusted_certificate_delivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = TestAuthority(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with FakeSmtpServer(starttls=authority.server_context()) as server:
        mailer = SmtpMailer(server.host, server.port, starttls=True, timeout=5)
        await mailer.check()
        await mailer.send(message())
        assert len(server.messages) == 1


async def test_a_refused_login_is_named_authentication_refused() -> None:
    with FakeSmtpServer(credentials=("mailer", "another-password")) as server:
        mailer = SmtpMailer(
            server.host, server.port, username="mailer", password=PASSWORD, starttls=False
        )
        for cause in await _causes(mailer):
            assert cause.startswith("authentication refused (SMTP 535): "), cause
            assert "SMTP_PASSWORD" in cause


async def test_a_refused_recipient_is_named_recipient_refused(smtp: FakeSmtpServer) -> None:
    smtp.refuse_recipients_with = "550 5.1.1 no such user here"
    mailer = SmtpMailer(smtp.host, smtp.port, starttls=False, timeout=5)
    with pytest.raises(MailNotSent) as caught:
        await mailer.send(message())
    assert caught.value.message.startswith("recipient refused (SMTP 550)"), caught.value.message
    assert "alice@example.com" not in caught.value.message
    await mailer.check()  # the check addresses nobody
    assert smtp.messages == []


async def test_the_fake_server_keeps_nothing_from_a_client_that_hangs_up_mid_data(
    smtp: FakeSmtpServer,
) -> None:
    smtp.accept_delay = 0.5
    reader, writer = await asyncio.open_connection(smtp.host, smtp.port)
    for line in ("EHLO client", "MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>", "DATA"):
        writer.write(f"{line}\r\n".encode())
    writer.write(b"Subject: hi\r\n\r\nbody\r\n.\r\n")
    await writer.drain()
    assert await asyncio.to_thread(smtp.in_data.wait, 5)
    writer.transport.abort()
    await asyncio.sleep(0.8)
    assert smtp.messages == []
    del reader


# folder only


async def test_the_folder_holds_only_whole_eml_files(tmp_path: Path) -> None:
    mailer = EmlFolderMailer(tmp_path / "outbox")
    await mailer.send(message())
    [file] = (tmp_path / "outbox").iterdir()
    assert file.suffix == ".eml"
    assert "job-1" in file.name


async def test_the_folder_mailer_logs_the_recipient_masked(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        await EmlFolderMailer(tmp_path).send(message())
    [line] = [entry for entry in logs if entry.get("message_id") == "<job-1@tessera>"]
    assert line["to"] == ["a***@example.com"]
    assert "alice@example.com" not in str(logs)


async def test_an_unwritable_folder_is_mail_not_sent_and_fails_the_check(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    mailer = EmlFolderMailer(blocker)
    with pytest.raises(MailNotSent):
        await mailer.send(message())
    with pytest.raises(MailNotSent):
        await mailer.check()
