"""The pieces of the input guard that need no app: the JSON nesting scan, the string walk,
the header cleaning."""

from __future__ import annotations

import pytest

from tessera.shared.domain.errors import InvalidInput
from tessera.shared.http.input_guard import (
    check_json,
    header_text,
    json_nesting_exceeds,
    unsafe_character,
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (nested(64), 64),
        (b'{"a": "' + b"[" * 500 + b'"}', 1),  # brackets inside a string do not count
        (b'["\\"[[[[", [[]]]', 3),  # nor after an escaped quote inside a string
        (b'{"k\\\\": ["' + b"{" * 100 + b'"]}', 2),  # an escaped backslash ends no string early
        (b"[" * 70 + b"1" + b"]" * 70, 70),
        (b"[]" * 10_000, 1),  # many brackets, none deep
    ],
)
def test_the_nesting_scan_measures_what_the_decoder_would_meet(body: bytes, depth: int) -> None:
    assert not json_nesting_exceeds(body, depth)
    assert json_nesting_exceeds(body, depth - 1)


def test_a_body_a_thousand_levels_deep_is_caught_without_recursion() -> None:
    assert json_nesting_exceeds(nested(1000), 64)
    assert json_nesting_exceeds(nested(1_000_000), 64)
    assert json_nesting_exceeds(b'{"a":' * 65 + b"1" + b"}" * 65, 64)


def test_malformed_text_never_raises() -> None:
    for body in (b"", b'"', b"]]]]", b'["unterminated', b"\xff\xfe[[", b"[" * 100):
        json_nesting_exceeds(body, 64)


def test_the_string_walk_names_the_field_as_a_path() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_json({"ok": "fine", "events": ["a", "b\x00"]})
    assert caught.value.field == "events[1]"
    assert caught.value.details == {"character": "U+0000"}
    with pytest.raises(InvalidInput) as caught:
        check_json({"meta": {"name": "\x00"}})
    assert caught.value.field == "meta.name"
    with pytest.raises(InvalidInput) as caught:
        check_json({"meta": {"bad\x00key": 1}})
    assert caught.value.field == "meta"
    check_json({"rtl": "\u202eevil", "emoji": "\U0001f600", "tab": "a\tb", "n": [1, None]})


def test_lone_surrogates_are_unsafe_and_pairs_are_not() -> None:
    assert unsafe_character("a\ud800b") == "U+D800"
    assert unsafe_character("\U0001f600") is None


def test_a_header_kept_as_text_loses_control_characters() -> None:
    assert header_text("Mozilla/5.0\x00 (X11;\r\n Linux)\tx") == "Mozilla/5.0 (X11; Linux)\tx"
    assert header_text("\x00\x01") is None
    assert header_text(None) is None
