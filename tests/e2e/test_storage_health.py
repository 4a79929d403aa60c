"""`/health/storage` and readiness follow the object store: the local folder in embedded
mode, an S3 bucket (moto's server) when `S3_BUCKET` is set."""

from __future__ import annotations

import socket
from pathlib import Path

from tessera.shared.adapters.local_storage import LocalFileStorage
from tessera.shared.adapters.s3_storage import S3FileStorage
from tests.e2e.harness import app_storage, client_for, settings_for
from tests.fakes import s3_server as fake_s3
from tests.fakes.s3_server import FakeS3Server


async def test_local_storage_is_a_health_module(sqlite_url: str, tmp_path: Path) -> None:
    settings = settings_for(database_url=sqlite_url, data_dir=str(tmp_path))
    async with client_for(settings) as client:
        storage = await app_storage(client)
        response = await client.get("/health/storage")
    assert isinstance(storage, LocalFileStorage)
    assert response.status_code == 200
    assert response.json()["module"] == "storage"
    assert response.json()["status"] == "healthy"
    assert (tmp_path / "storage").is_dir()


async def test_a_bucket_is_used_when_s3_is_configured(
    sqlite_url: str, s3_server: FakeS3Server
) -> None:
    settings = settings_for(
        database_url=sqlite_url,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_bucket=s3_server.create_bucket(),
        aws_access_key_id=fake_s3.ACCESS_KEY_ID,
        aws_secret_access_key=fake_s3.SECRET_ACCESS_KEY,
    )
    async with client_for(settings) as client:
        storage = await app_storage(client)
        module = await client.get("/health/storage")
        ready = await client.get("/health/ready")
        local_route = await client.get("/api/v1/storage/objects", params={"token": "x"})
    assert isinstance(storage, S3FileStorage)
    assert module.status_code == 200
    assert ready.json()["checks"]["storage"] == "healthy"
    assert local_route.status_code == 404, "the local-storage route exists only without S3"


async def test_a_store_that_does_not_answer_makes_the_app_unready(sqlite_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(
        database_url=sqlite_url,
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_bucket="gone",
        aws_access_key_id="a",
        aws_secret_access_key="s",
    )
    async with client_for(settings) as client:
        module = await client.get("/health/storage")
        ready = await client.get("/health/ready")
    assert module.status_code == 503
    assert module.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert ready.status_code == 503
    assert ready.json()["error"]["details"]["failing"] == ["storage"]
