"""`HttpMetrics`: requests tallied in memory reach the Prometheus values whole on a flush,
in the same buckets `Histogram.observe` would have put them in."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from tessera.features.ops.adapters.prometheus import HttpMetrics, flush_http_metrics


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_a_flush_hands_over_counts_sums_and_buckets() -> None:
    route = f"/tally/{uuid.uuid4().hex}"  # the registry is the process's: a route of our own
    metrics = HttpMetrics()
    for seconds in (0.001, 0.003, 0.003, 20.0):  # a bound itself counts as inside (le)
        metrics.observe("GET", route, 200, seconds)
    metrics.observe("GET", route, 503, 0.2)
    ok, failed = {"method": "GET", "route": route, "status": "200"}, {"status": "503"}
    assert value("http_requests_total", **ok) == 0, "nothing before the flush"
    metrics.flush()
    assert value("http_requests_total", **ok) == 4
    assert value("http_errors_total", **ok) == 0
    assert value("http_errors_total", **(ok | failed)) == 1
    histogram = "http_request_duration_seconds"
    assert value(f"{histogram}_count", **ok) == 4
    assert abs(value(f"{histogram}_sum", **ok) - 20.007) < 1e-9
    cumulative = {"0.001": 1, "0.0025": 1, "0.005": 3, "10.0": 3, "+Inf": 4}
    for le, count in cumulative.items():
        assert value(f"{histogram}_bucket", **ok, le=le) == count, le
    metrics.flush()
    assert value("http_requests_total", **ok) == 4, "a tally is handed over once"


def test_an_exposition_flushes_every_apps_tally_first() -> None:
    route = f"/tally/{uuid.uuid4().hex}"
    first, second = HttpMetrics(), HttpMetrics()
    first.observe("GET", route, 200, 0.01)
    second.observe("GET", route, 200, 0.01)
    flush_http_metrics()
    assert value("http_requests_total", method="GET", route=route, status="200") == 2
