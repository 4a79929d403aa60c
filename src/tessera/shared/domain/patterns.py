"""Regular expressions that request types state (msgspec `Meta(pattern=...)`, and so the
OpenAPI document), each kept with what it asks for in words: a refused value is told
"url must be a URL starting with http:// or https://", never the expression.

A pattern here must not let NUL through: `input_guard` refuses NUL in every string, so a
pattern that allowed it would promise what the server refuses. Nor does one say `\\s`:
its meaning differs between Python (msgspec), ECMAScript (clients) and test generators;
`SPACE` lists what Python's `str.strip()` and `str.split()` take for whitespace, so a
pattern means the same everywhere and agrees with the code that trims.
"""

from __future__ import annotations

_WORDS: dict[str, str] = {}


def described(regex: str, words: str) -> str:
    """`regex`, remembered with `words`: what a matching value is ("an email address")."""
    _WORDS[regex] = words
    return regex


def in_words(regex: str) -> str | None:
    """What `regex` asks for in words, if it was `described`."""
    return _WORDS.get(regex)


# The characters of a character class, escaped, as written into the patterns below.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NUL = r"\u0000"

NOT_BLANK = described(
    f"^[^{NUL}]*[^{SPACE}{NUL}][^{NUL}]*$",
    "text with at least one character that is not a space",
)
HTTP_URL = described(f"^https?://[^{NUL}]*$", "a URL starting with http:// or https://")
