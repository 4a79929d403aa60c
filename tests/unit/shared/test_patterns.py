"""The described patterns: what they let through, and their words (tessera.shared.domain)."""

from __future__ import annotations

import re

import pytest

from tessera.features.identity.domain.user import EMAIL_PATTERN
from tessera.shared.domain.patterns import HTTP_URL, NOT_BLANK, SPACE, described, in_words


def test_space_is_exactly_what_python_trims() -> None:
    """Every character `str.strip()` drops, and no other (all of them are below U+3100)."""
    space = re.compile(f"[{SPACE}]")
    characters = [chr(code) for code in range(0x3100)]
    assert [c for c in characters if space.fullmatch(c)] == [c for c in characters if c.isspace()]


@pytest.mark.parametrize("pattern", [EMAIL_PATTERN, NOT_BLANK, HTTP_URL])
def test_no_pattern_lets_nul_through(pattern: str) -> None:
    """`input_guard` refuses NUL in every string; a pattern allowing it would promise more."""
    fitting = {EMAIL_PATTERN: "a@b.co", NOT_BLANK: "name", HTTP_URL: "https://a.test/"}[pattern]
    assert re.search(pattern, fitting)
    for at in range(len(fitting) + 1):
        assert not re.search(pattern, fitting[:at] + "\x00" + fitting[at:]), at


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        ("  Alice@Example.COM\n", True),
        ("a@b.c", True),
        ("a b@c.d", False),
        ("a@b", False),
        ("a@@b.c", False),
        ("x\x85y@b.co", False),
        ("a@b.c\u3000", True),
        ("", False),
    ],
)
def test_an_email_may_come_with_spaces_around_but_none_inside(value: str, fits: bool) -> None:
    assert bool(re.search(EMAIL_PATTERN, value)) is fits


@pytest.mark.parametrize(
    ("value", "fits"), [("Ann", True), (" a ", True), ("", False), (" \t\u2028", False)]
)
def test_not_blank_wants_one_character_that_is_not_a_space(value: str, fits: bool) -> None:
    assert bool(re.search(NOT_BLANK, value)) is fits


def test_a_described_pattern_is_known_by_its_words() -> None:
    regex = described("^[0-9]{4}$", "four digits")
    assert in_words(regex) == "four digits"
    assert in_words("^[0-9]{5}$") is None
