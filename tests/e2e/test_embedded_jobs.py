"""Embedded mode runs the same jobs in the API process: emails become `.eml` files."""

from __future__ import annotations

import asyncio
import email.policy
from email.parser import BytesParser
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.features.email.application.requests import email_requested
from tessera.shared.adapters.database import create_engine
from tessera.shared.adapters.outbox import SqlOutbox
from tests import services
from tests.e2e.harness import client_for, settings_for
from tests.e2e.test_background_work import welcome
from tests.mail import body_text


async def eml_files(folder: Path, count: int, timeout: float = 10) -> list[Path]:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found := sorted(folder.glob("*.eml"))) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(found)} of {count} emails"
        await asyncio.sleep(0.1)
    return found


async def test_an_email_requested_through_the_api_is_written_to_the_outbox_folder(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    settings = settings_for(database_url=url, data_dir=str(tmp_path))
    async with client_for(settings, routes=[welcome]) as client:
        response = await client.post(
            "/api/v1/probe/welcome", json={"to": "alice@example.com", "full_name": "Alice"}
        )
        assert response.status_code == 201
        (path,) = await eml_files(tmp_path / "outbox", 1)
    message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    assert message["To"] == "alice@example.com"
    assert message["Message-ID"].startswith(f"<{response.json()['data']['event_id']}@")
    assert "Alice" in body_text(message)


async def test_the_embedded_scheduler_sweeps_events_nobody_relayed(tmp_path: Path) -> None:
    """An event committed by another process (here: directly) is found by the sweep."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
    await services.migrate(url)
    settings = settings_for(database_url=url, data_dir=str(tmp_path), outbox_sweep_seconds="1")
    async with client_for(settings):
        engine = create_engine(url)
        async with AsyncSession(engine) as session:
            SqlOutbox(session).record(
                email_requested("welcome_email", "bob@example.com", {"full_name": "Bob"})
            )
            await session.commit()
        await engine.dispose()
        assert len(await eml_files(tmp_path / "outbox", 1, timeout=15)) == 1
