"""A test that hangs fails within minutes and names itself (a pytest plugin).

pytest-timeout ends a test that runs past `timeout` (pyproject.toml; a slow test may say
more with `@pytest.mark.timeout(...)`), with its thread method: a timer thread that dumps
every thread's stack and ends the process. Its dump goes to the process's standard output,
which pytest-xdist's workers send to /dev/null, so under `pytest -n` a hang would show up
only as "worker crashed". Here the same timer (pytest-timeout's `pytest_timeout_set_timer`
hook) writes the test's id and every thread's stack, each with its name, to the console's
standard error instead; the process then ends, and xdist reports the test as failed and
starts a new worker for the rest of the run. A test stuck in C code that holds the GIL
never lets that timer run: `faulthandler`'s watchdog, which needs no GIL, dumps the threads
and ends the process 30 s later.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import traceback
from typing import Any

import pytest

_TIMER = pytest.StashKey[threading.Timer]()
GIL_GRACE = 30.0
"""Seconds after the timeout before the GIL-free watchdog ends a test the timer could not."""
_CONSOLE = pytest.StashKey[int]()
"""A copy of standard error taken before any test's output capture: the console."""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CONSOLE] = os.dup(sys.__stderr__.fileno() if sys.__stderr__ else 2)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "thread":
        return None  # the signal method raises in the test: pytest-timeout's own report
    console = item.config.stash[_CONSOLE]
    timer = threading.Timer(settings.timeout, _hung, args=(console, item.nodeid, settings.timeout))
    timer.name, timer.daemon = "test-timeout", True
    item.stash[_TIMER] = timer
    timer.start()
    faulthandler.dump_traceback_later(settings.timeout + GIL_GRACE, exit=True, file=console)
    return True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    timer = item.stash.get(_TIMER, None)
    if timer is None:
        return None
    faulthandler.cancel_dump_traceback_later()
    timer.cancel()
    timer.join()
    del item.stash[_TIMER]
    return True


def _hung(console: int, test: str, seconds: float) -> None:
    os.write(console, stacks(f"{test} ran past its {seconds:g} s timeout").encode())
    os._exit(1)


def stacks(title: str) -> str:
    """Every other thread's stack, under its name, below `title`."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = [f"\n{'+' * 20} {title}: every thread's stack {'+' * 20}\n"]
    for ident, frame in sys._current_frames().items():
        if ident != threading.get_ident():
            parts.append(f"~~~ thread {names.get(ident, '?')!r} ({ident}) ~~~\n")
            parts.extend(traceback.format_stack(frame))
    parts.append(f"{'+' * 20} end of {title} {'+' * 20}\n")
    return "".join(parts)
