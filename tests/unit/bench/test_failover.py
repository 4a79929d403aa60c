"""`bench.failover` measures a failover by the answers' moments: the stretches it reports."""

from __future__ import annotations

import pytest
from bench.failover import Answer, longest_failure, longest_without_success


def _answers(*moments: tuple[float, str]) -> list[Answer]:
    return [Answer(at, kind) for at, kind in moments]


def test_a_run_of_failures_lasts_from_its_first_to_the_next_success() -> None:
    answers = _answers(
        (0.1, "2xx"),
        (0.5, "503"),
        (0.9, "503"),
        (1.4, "2xx"),  # 0.9 s
        (2.0, "timeout"),
        (2.2, "2xx"),  # 0.2 s
    )
    assert longest_failure(answers, end=10.0) == pytest.approx(0.9)
    assert longest_failure(list(reversed(answers)), end=10.0) == pytest.approx(0.9)


def test_failures_to_the_end_count_to_the_end_and_none_is_zero() -> None:
    assert longest_failure(_answers((1.0, "2xx"), (3.0, "503")), end=10.0) == pytest.approx(7.0)
    assert longest_failure(_answers((1.0, "2xx"), (2.0, "2xx")), end=10.0) == 0.0
    assert longest_failure([], end=10.0) == 0.0


def test_the_longest_time_without_success_counts_hanging_requests_too() -> None:
    # Nothing came back between 1.0 and 4.0: no failure was answered, yet nothing succeeded.
    answers = _answers((-1.0, "2xx"), (1.0, "2xx"), (4.0, "2xx"), (4.5, "503"), (5.0, "2xx"))
    assert longest_without_success(answers, since=0.0, end=6.0) == pytest.approx(3.0)
    assert longest_failure(answers, end=6.0) == pytest.approx(0.5)
    assert longest_without_success(_answers((3.0, "2xx")), since=0.0, end=5.0) == 3.0
    assert longest_without_success([], since=0.0, end=5.0) == 5.0
