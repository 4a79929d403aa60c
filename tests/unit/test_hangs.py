"""`tests/hangs.py`: a test that hangs is ended at its timeout, named, with every thread's
stack on the console, and the run goes on without it, under pytest-xdist too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUCK = """
    import threading

    def test_stuck():
        threading.Event().wait()  # nothing ever sets it

    def test_fine():
        pass
"""


def test_a_hung_test_is_ended_and_named_with_every_threads_stack(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(textwrap.dedent(STUCK))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.hangs",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--timeout",
        "2",
        "-o",
        "timeout_method=thread",
        str(tmp_path),
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command,
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_stuck.py::test_stuck ran past its 2 s timeout" in result.stderr
    assert "in test_stuck\n    threading.Event().wait()" in result.stderr, "its stack"
    assert "~~~ thread 'MainThread'" in result.stderr
    assert "1 failed, 1 passed" in result.stdout
