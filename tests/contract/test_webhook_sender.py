"""`WebhookSender` (httpx) against real local servers: it connects to the checked address
only, sends the URL's host as `Host` and as TLS SNI (the certificate is checked for that
name), follows no redirect, and reports failures instead of raising."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.features.webhooks.adapters.httpx_sender import HttpxWebhookSender
from tessera.features.webhooks.application.ports import WebhookSender
from tessera.features.webhooks.domain.targets import CheckedTarget
from tests.e2e.processes import free_port
from tests.e2e.webhooks.receiver import Receiver

NAME = "receiver.invalid"  # resolves nowhere: only the pinned address can be reached


def pinned(receiver: Receiver, *addresses: str, path: str = "/hook") -> CheckedTarget:
    url = receiver.url(path, host=NAME)
    port = int(url.split(":")[2].split("/")[0])
    return CheckedTarget(url, NAME, port, addresses or ("127.0.0.1",))


def certificate_for(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for `name` (PEM) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def sender() -> WebhookSender:
    return HttpxWebhookSender()


async def test_it_posts_to_the_checked_address_with_the_urls_host(
    receiver: Receiver, sender: WebhookSender
) -> None:
    target = pinned(receiver)
    response = await sender.post(target, b'{"a":1}', {"webhook-id": "msg_1"})
    (hit,) = receiver.hits
    assert response.status_code == 200
    assert hit.headers["host"] == f"{NAME}:{target.port}"
    assert (hit.path, hit.body, hit.headers["webhook-id"]) == ("/hook", b'{"a":1}', "msg_1")


async def test_a_redirect_comes_back_unfollowed(receiver: Receiver, sender: WebhookSender) -> None:
    receiver.script = [(307, {"location": receiver.url("/elsewhere")})]
    response = await sender.post(pinned(receiver), b"{}", {})
    assert response.status_code == 307
    assert [hit.path for hit in receiver.hits] == ["/hook"]


async def test_retry_after_is_passed_back(receiver: Receiver, sender: WebhookSender) -> None:
    receiver.script = [(429, {"retry-after": "120"})]
    response = await sender.post(pinned(receiver), b"{}", {})
    assert (response.status_code, response.retry_after) == (429, "120")


async def test_a_refused_address_moves_on_to_the_next(
    receiver: Receiver, sender: WebhookSender
) -> None:
    response = await sender.post(pinned(receiver, "127.0.0.2", "127.0.0.1"), b"{}", {})
    assert response.status_code == 200
    assert len(receiver.hits) == 1


async def test_nobody_listening_is_an_error_not_an_exception(sender: WebhookSender) -> None:
    port = free_port()
    target = CheckedTarget(f"http://{NAME}:{port}/", NAME, port, ("127.0.0.1",))
    response = await sender.post(target, b"{}", {})
    assert response.status_code is None
    assert response.error is not None
    assert "connect" in response.error


async def test_a_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    receiver.hold.clear()
    response = await HttpxWebhookSender(timeout=0.5).post(pinned(receiver), b"{}", {})
    assert response.status_code is None
    assert response.error == "no answer within 0.5 s"


async def test_https_sends_the_urls_host_as_sni_and_checks_the_certificate_for_it(
    tmp_path: Path,
) -> None:
    certificate, key = certificate_for(NAME)
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "key.pem").write_bytes(key)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    trusting = ssl.create_default_context(cadata=certificate.decode())
    with Receiver(tls=server) as receiver:
        response = await HttpxWebhookSender(tls=trusting).post(pinned(receiver), b"{}", {})
        untrusted = await HttpxWebhookSender().post(pinned(receiver), b"{}", {})
    assert response.status_code == 200, response.error
    assert receiver.server_names[0] == NAME
    assert untrusted.status_code is None  # the system's CAs do not vouch for it
