from __future__ import annotations

import asyncio

import pytest

from tessera.features.ops.application.check_health import CheckHealth, UnknownModule


class StubProbe:
    def __init__(self, name: str, *, error: Exception | None = None, delay: float = 0) -> None:
        self.name = name
        self._error = error
        self._delay = delay

    async def check(self) -> None:
        await asyncio.sleep(self._delay)
        if self._error is not None:
            raise self._error


async def test_all_probes_answering_is_healthy_in_probe_order() -> None:
    report = await CheckHealth([StubProbe("database"), StubProbe("cache")]).execute()
    assert report.healthy
    assert [m.module for m in report.modules] == ["database", "cache"]


async def test_a_failing_probe_is_reported_by_kind_without_its_message() -> None:
    failing = StubProbe("database", error=ConnectionRefusedError("10.1.2.3:5432 secret-host"))
    report = await CheckHealth([failing, StubProbe("cache")]).execute()
    assert not report.healthy
    assert report.failing == ["database"]
    assert report.modules[0].problem == "ConnectionRefusedError"


async def test_a_probe_that_hangs_is_unhealthy_after_the_timeout() -> None:
    report = await CheckHealth([StubProbe("cache", delay=5)], timeout=0.05).execute()
    assert report.failing == ["cache"]
    assert report.modules[0].problem == "timed out"


class MeetingProbe:
    """Answers only once every probe of its group has started: run one after the other,
    the first would wait for the rest until the timeout."""

    def __init__(self, name: str, barrier: asyncio.Barrier) -> None:
        self.name = name
        self._barrier = barrier

    async def check(self) -> None:
        await self._barrier.wait()


async def test_probes_run_concurrently() -> None:
    barrier = asyncio.Barrier(5)
    probes = [MeetingProbe(f"p{i}", barrier) for i in range(5)]
    report = await CheckHealth(probes, timeout=5).execute()
    assert report.healthy, report.failing


async def test_one_module_can_be_asked_alone() -> None:
    report = await CheckHealth(
        [StubProbe("database", error=OSError()), StubProbe("cache")]
    ).execute("cache")
    assert [m.module for m in report.modules] == ["cache"]
    assert report.healthy


async def test_an_unknown_module_is_not_found() -> None:
    with pytest.raises(UnknownModule):
        await CheckHealth([StubProbe("database")]).execute("storage")
