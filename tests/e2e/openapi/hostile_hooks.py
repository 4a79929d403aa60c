"""Schemathesis hooks (`SCHEMATHESIS_HOOKS=tests.e2e.openapi.hostile_hooks`): what attackers
put in requests, mixed into every request the fuzzing phase generates.

One place of each JSON body is salted, and half the time one query or path parameter: a
string gets a hostile character slipped in (so the rest of it still passes validation and
the character travels on towards the database), or the value is replaced by a hostile
string or by arrays nested past `JSON_MAX_DEPTH`; a body may instead gain a hostile key.
Hostile characters: NUL, lone surrogates (in JSON only, where `\\udxxx` escapes carry them;
a URL carries UTF-8), right-to-left overrides and marks, a byte-order mark, a terminal
escape, a combining mark, an astral emoji. Hostile strings: very long ones, SQL, paths,
escapes spelled out, random text of any code point. Requests may also carry odd
User-Agents.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

_CHARACTERS = ["\x00", "\u202e", "\u200f", "\ufeff", "\x1b", "\u0301", "\U0001f4a9", "\x00"]
URL_CHARACTERS = st.sampled_from(_CHARACTERS)
JSON_CHARACTERS = st.sampled_from([*_CHARACTERS, "\ud800", "\udfff", "\x00"])
_STRINGS = [
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "x" * 20_000,
    "'; DROP TABLE users; --",
    "../../etc/passwd",
    "%00",
    "\\u0000",
    "\x1b[31mred\x1b[0m",
]
URL_TEXT = st.sampled_from(_STRINGS) | st.text(st.characters(codec="utf-8"), max_size=40)
JSON_TEXT = (
    st.sampled_from([*_STRINGS, "y" * 100_000, "\ud800", "a\udfffb"])
    | st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates too
)
DEEP = st.integers(65, 200).map(lambda depth: nested([], depth))
# What an HTTP/1.1 header can carry at all (the server refuses NUL and control characters
# in headers before the app sees them): long, obs-text, a tab.
AGENTS = st.sampled_from(["A" * 20_000, "Mozilla/5.0 \xe9\xff\xa0", "tab\tbed", "x"])


def nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def places(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value a hostile value can go, the value itself included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += places(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += places(child, (*prefix, index))
    return found


def at(value: Any, place: tuple[Any, ...]) -> Any:
    for step in place:
        value = value[step]
    return value


def replaced(value: Any, place: tuple[Any, ...], new: Any) -> Any:
    if not place:
        return new
    head, *rest = place
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replaced(value[head], tuple(rest), new)
    return copy


def spiked(text: str, characters: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`text` with one hostile character slipped in somewhere."""
    return st.tuples(st.integers(0, len(text)), characters).map(
        lambda spike: text[: spike[0]] + spike[1] + text[spike[0] :]
    )


def hostile(
    value: Any, characters: st.SearchStrategy[str], texts: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    """What replaces `value`: mostly itself spiked, when it is a string."""
    if isinstance(value, str):
        return st.one_of(spiked(value, characters), spiked(value, characters), texts)
    return texts


def salted_json(body: Any) -> st.SearchStrategy[Any]:
    strings = [place for place in places(body) if isinstance(at(body, place), str)]
    choices = [st.sampled_from(strings)] * 3 if strings else []  # strings above all
    place = st.one_of(*choices, st.sampled_from(places(body)))
    salted = place.flatmap(
        lambda where: (hostile(at(body, where), JSON_CHARACTERS, JSON_TEXT) | DEEP).map(
            lambda new: replaced(body, where, new)
        )
    )
    if isinstance(body, dict):
        return salted | JSON_TEXT.map(lambda key: {**body, key: "x"})
    return salted


def salted_parameters(parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Half the time (a salted path parameter is refused before the body is read)."""
    if not parameters:
        return st.just(parameters)
    salted = st.sampled_from(sorted(parameters)).flatmap(
        lambda name: hostile(parameters[name], URL_CHARACTERS, URL_TEXT).map(
            lambda new: {**parameters, name: new}
        )
    )
    return st.just(parameters) | salted


def no_empty_segment(path_parameters: dict[str, Any] | None) -> bool:
    """An empty path parameter makes another path (`/webhooks/{id}` becomes `/webhooks/`,
    the collection), whose answers are another operation's: not this one's to check."""
    return "" not in (path_parameters or {}).values()


@schemathesis.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    operation = context.operation
    if operation is None or any("json" not in each.media_type for each in operation.body):
        return st.just(body)  # multipart uploads: tests/e2e/test_hostile_input.py has those
    return salted_json(body)


@schemathesis.hook
def filter_path_parameters(_context: schemathesis.HookContext, path_parameters: Any) -> bool:
    return no_empty_segment(path_parameters)


@schemathesis.hook
def flatmap_path_parameters(
    _context: schemathesis.HookContext, path_parameters: Any
) -> st.SearchStrategy[Any]:
    return salted_parameters(path_parameters).filter(no_empty_segment)


@schemathesis.hook
def flatmap_query(_context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
    return salted_parameters(query)


@schemathesis.hook
def flatmap_case(
    _context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> st.SearchStrategy[schemathesis.Case[Any]]:
    def with_agent(agent: str | None) -> schemathesis.Case[Any]:
        if agent is not None:
            headers = CaseInsensitiveDict(case.headers or {})
            headers["User-Agent"] = agent
            case.headers = headers
        return case

    return st.one_of(st.none(), AGENTS).map(with_agent)
