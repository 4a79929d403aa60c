"""Hostile input, refused at the door (SPEC §3.12): the one place that checks every string a
request carries before a handler, a use case or a driver sees it.

- Characters no driver can hold: NUL (PostgreSQL's text types refuse it) and lone UTF-16
  surrogates (no UTF-8 encoding exists for them). A JSON body, a multipart field (its name,
  its value, a file's name), a query parameter or a path parameter holding one is a 400
  `VALIDATION_ERROR` naming the field. Headers stored as data (the User-Agent of a session)
  are cleaned instead (`header_text`).
- JSON bodies nested deeper than `JSON_MAX_DEPTH` are a 400 before they are decoded (the
  decoder recurses); bodies that are not UTF-8 are a 400 too.
- A JSON body holds the types its handler declares, exactly (`check_types`): Litestar
  converts bodies as it converts query strings (msgspec's lax mode, where `"12"` is 12 and
  `1` or `"true"` is `true`), which would accept what the OpenAPI document refuses.

`guarded_request_class` makes the `Request` class the app builds for each request: its
`json()` and `form()` are where Litestar decodes bodies, for every handler. `check_query`
and `check_path_parameters` are the app's check of query and path parameters, run before
any handler's arguments are parsed.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.exceptions import SerializationException, ValidationException

from tessera.shared.domain.errors import InvalidInput

_UNSAFE = re.compile("[\x00\ud800-\udfff]")
"""NUL and lone surrogates: what PostgreSQL's text types and UTF-8 cannot hold."""
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
"""What a header kept as text loses: control characters (but tab) and surrogates."""
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the four brackets
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 in, -1 (as a signed byte) out
_NUL_ESCAPE = b"\\u0000"
"""The only way a JSON text can hold NUL (RFC 8259 forbids raw control characters in
strings; the decoder refuses them). Lone surrogates never survive msgspec's decoding."""


def unsafe_character(text: str) -> str | None:
    """`U+0000`-style name of the first character no driver can hold, else None."""
    found = _UNSAFE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def refuse(field: str | None, character: str) -> InvalidInput:
    subject = field or "The request"
    return InvalidInput(
        f"{subject} contains a character that is not allowed ({character}).",
        field=field,
        details={"character": character},
    )


def check_text(field: str, text: str) -> None:
    character = unsafe_character(text)
    if character is not None:
        raise refuse(field, character)


def json_nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text `body` nests arrays and objects deeper than `limit`, without
    decoding it (the decoder recurses): brackets inside strings do not count. Counting the
    opening brackets settles almost every body at once; the exact scan is a few C-level
    passes, no Python loop over the bytes: escaped backslashes and quotes dropped (left to
    right, as a decoder pairs them), so every quote left opens or closes a string; the text
    between quotes dropped; brackets turned into +1/-1 steps; their running sum's maximum.
    A malformed body may measure anything here, but never raises."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    steps = outside_strings.translate(_STEPS, _BRACKETS)
    return max(accumulate(array("b", steps)), default=0) > limit


def header_text(value: str | None) -> str | None:
    """A header's value fit to store and show: control characters (but tab) and surrogates
    dropped; None when nothing is left."""
    if not value:
        return None
    return _CONTROL.sub("", value) or None


def check_json(value: Any) -> None:
    """Refuse the first string (object keys included) no driver can hold, naming its field
    as a path (`events[2]`, `metadata.name`). Iterative: the depth is bounded already, but a
    wide body should not cost a frame per level either."""
    for path, text in _strings(value):
        check_text(path or "body", text)


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and unsafe_character(key) is not None:
                    yield (path or "body"), key
                pending.append((name, child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


def check_form(form: FormMultiDict) -> None:
    """Field names, text values and file names of a multipart (or url-encoded) form."""
    for name, value in form.multi_items():
        check_text("form field name", name)
        if isinstance(value, UploadFile):
            check_text(name, value.filename)
        elif isinstance(value, str):
            check_text(name, value)


_AT = re.compile(r" - at `\$\.?(?P<key>[^`]*)`$")


def check_types(request: Request[Any, Any, Any], value: Any) -> None:
    """Refuse a decoded JSON body that is not strictly of the handler's `data` type, as
    Litestar refuses one (the same `ValidationException`, the field as its key). JSON has
    one kind of number: `36.0` is the integer 36 (JSON Schema says so too), which msgspec's
    strict mode would refuse for an `int`; such a body is checked again with whole numbers."""
    field = request.route_handler.parsed_data_field
    if field is None:
        return
    try:
        try:
            msgspec.convert(value, type=field.annotation, strict=True)
        except msgspec.ValidationError:
            msgspec.convert(_whole_numbers(value), type=field.annotation, strict=True)
    except msgspec.ValidationError as error:
        text = str(error)
        found = _AT.search(text)
        problem = {"message": text[: found.start()] if found else text, "source": "body"}
        if found and found["key"]:
            problem["key"] = found["key"]
        raise ValidationException(extra=[problem]) from None


def _whole_numbers(value: Any) -> Any:
    """`value` with every float that is a whole number as an int (depth bounded already)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


def refuse_other_parts(form: FormMultiDict, expected: str) -> None:
    """A multipart route reads one part: any other is a 400 naming it, as an unknown JSON
    field is, rather than a part the client believes was stored."""
    for name in form:
        if name != expected:
            raise InvalidInput(
                f"The multipart field `{name}` is not accepted: send only `{expected}`.",
                field=name,
            )


def too_deep(limit: int) -> InvalidInput:
    return InvalidInput(
        f"The JSON body is nested deeper than {limit} levels.",
        details={"max_depth": limit},
    )


def guarded_request_class(*, json_max_depth: int) -> type[Request[Any, Any, Any]]:
    """The `Request` class of the app: bodies checked as they are decoded."""

    class GuardedRequest(Request[Any, Any, Any]):
        async def json(self) -> Any:
            body = await self.body()
            if json_nesting_exceeds(body, json_max_depth):
                raise too_deep(json_max_depth)
            try:
                value = await super().json()
            except UnicodeDecodeError as error:  # msgspec's, for bytes that are not UTF-8
                raise SerializationException("The body is not valid UTF-8.") from error
            if _NUL_ESCAPE in body:
                check_json(value)
            check_types(self, value)
            return value

        async def form(self) -> FormMultiDict:
            try:
                form = await super().form()
            except (UnicodeDecodeError, LookupError) as error:  # a part's charset
                raise InvalidInput("A form field is not text in its declared charset.") from error
            try:
                check_form(form)
            except InvalidInput:
                await form.close()
                raise
            return form

    return GuardedRequest


def check_query(request: Request[Any, Any, Any]) -> None:
    """Query parameters, names and values (call only when there is a query string)."""
    for name, value in request.query_params.multi_items():
        check_text("query parameter name", name)
        check_text(name, value)


def check_path_parameters(request: Request[Any, Any, Any]) -> None:
    """The string path parameters of a request."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(name, value)
