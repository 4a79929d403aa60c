"""A real S3 API for tests: moto's server in a thread of the test process, on a free port.

    with FakeS3Server() as s3:
        s3.create_bucket("tessera-test-1")       # unsigned PUT /bucket; moto accepts it
        S3Config(endpoint_url=s3.endpoint_url, bucket="tessera-test-1", ...)

moto answers the S3 API (multipart uploads, metadata, listing, presigned URLs) but does
not check signatures or expiry: tests may use any credentials, and a presigned URL working
against it proves its shape, not its signature.
"""

from __future__ import annotations

import logging
import uuid
from types import TracebackType
from typing import Any

import httpx

ACCESS_KEY_ID = "AKIDTESSERATEST"
SECRET_ACCESS_KEY = "tessera-test-secret"  # moto accepts anything
REGION = "us-east-1"


class FakeS3Server:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # heavy: imported only when used

        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> FakeS3Server:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request else
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or f"tessera-test-{uuid.uuid4().hex[:12]}"
        response = httpx.put(f"{self.endpoint_url}/{bucket}", timeout=10)
        response.raise_for_status()
        return bucket

    def __enter__(self) -> FakeS3Server:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
