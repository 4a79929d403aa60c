"""Date-time query parameters: RFC 3339 text only, as the OpenAPI document says.

Litestar would also take a bare number as a date-time (seconds since the epoch), which
the document does not allow; these parameters are read as text, checked against the
pattern, then parsed. A moment without an offset is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.params import QueryParameter

from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.patterns import described

PATTERN = described(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?$",
    "an ISO 8601 date-time such as 2026-01-31T12:00:00Z",
)


def moment_parameter(description: str) -> Any:
    """`Annotated[str | None, moment_parameter("...")]` for a date-time query parameter."""
    return QueryParameter(
        pattern=PATTERN, description=description, schema_extra={"format": "date-time"}
    )


def parse_moment(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field} must be a date-time such as 2026-01-31T12:00:00Z.", field=field
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
