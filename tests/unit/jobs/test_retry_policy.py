from __future__ import annotations

import pytest

from tessera.features.jobs.domain.job import RetryPolicy
from tessera.features.jobs.domain.routing import JobRoute, JobRouting


def test_each_wait_doubles_until_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=30, jitter=0)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [30, 60, 120, None]


def test_waits_are_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base_delay=60, max_delay=300, jitter=0)
    assert policy.delay_after(10) == 300


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 27.0), (0.5, 30.0), (1.0, 33.0)])
def test_jitter_spreads_a_wait_by_ten_percent_either_way(draw: float, expected: float) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=30)
    assert policy.delay_after(1, draw=lambda: draw) == pytest.approx(expected)


def test_the_email_policy_of_the_seed_tries_three_times() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1, jitter=0)
    assert policy.delay_after(2) is not None
    assert policy.delay_after(3) is None


def test_routing_sends_unlisted_types_to_the_default_route() -> None:
    email = JobRoute("email_queue", RetryPolicy(3, 1))
    default = JobRoute("default", RetryPolicy(5, 1))
    routing = JobRouting({"email.send": email}, default=default)
    assert routing.route("email.send") is email
    assert routing.route("user.created") is default


def test_routing_refuses_a_queue_no_worker_listens_to() -> None:
    with pytest.raises(ValueError, match="emails"):
        JobRouting(
            {"email.send": JobRoute("emails", RetryPolicy(3, 1))},
            default=JobRoute("default", RetryPolicy(5, 1)),
        )
