"""A failing test is reported the moment it fails, not only in the summary (a pytest plugin).

pytest prints its failures after the last test. A run that a time limit ends early (CI
bounds the test step) never gets there and shows only an `F` among the dots. Here the
controlling process (under xdist, the one the workers report to) writes the test's id and
the tail of its report to the console as soon as the report arrives.
"""

from __future__ import annotations

import pytest

TAIL_LINES = 60
"""How much of a failure's report is printed at once (the summary still has all of it)."""


class _InstantFailures:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if not report.failed or terminal is None:
            return
        terminal.write_line("")
        terminal.write_line(f"FAILED {report.nodeid} ({report.when})", red=True, bold=True)
        terminal.write_line("\n".join(report.longreprtext.splitlines()[-TAIL_LINES:]))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # an xdist worker's reports go to the controller
        config.pluginmanager.register(_InstantFailures(config), "instant-failures")
