"""Request ids: the caller's when safe to echo, else 128 random bits, distinct in every
forked worker."""

from __future__ import annotations

import os
import re

import pytest

from tessera.shared.http.context import choose_request_id

MADE = re.compile(r"req-[0-9a-f]{32}")


def test_a_safe_incoming_id_is_kept() -> None:
    assert choose_request_id("req-abc.123:x") == "req-abc.123:x"


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "naïve", "a\nb"])
def test_a_missing_or_unsafe_id_is_replaced(incoming: str | None) -> None:
    made = choose_request_id(incoming)
    assert MADE.fullmatch(made), made


def test_made_ids_do_not_repeat() -> None:
    ids = {choose_request_id(None) for _ in range(10_000)}
    assert len(ids) == 10_000


def test_forked_workers_make_ids_of_their_own() -> None:
    """Server workers are forked from one parent: each must draw different ids."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's side)
        os.write(write, choose_request_id(None).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as pipe:
        from_child = pipe.read().decode()
    assert MADE.fullmatch(from_child)
    assert from_child != choose_request_id(None)
