"""Paging, sorting and ordering of lists, with the rules every list endpoint shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from tessera.shared.domain.errors import InvalidInput

T = TypeVar("T")
SortOrder = Literal["asc", "desc"]
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_PAGE = 1_000_000
"""Past this a page number is an error: the offset must stay a 64-bit integer in SQL."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which slice of a list to return. Build it with `PageRequest.parse` to get validation."""

    page: int = 1
    limit: int = DEFAULT_LIMIT
    sort: str = "created_at"
    order: SortOrder = "desc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @classmethod
    def parse(
        cls,
        *,
        page: int = 1,
        limit: int = DEFAULT_LIMIT,
        sort: str | None = None,
        order: str = "desc",
        sortable: Sequence[str],
        default_sort: str = "created_at",
    ) -> PageRequest:
        """Validate instead of clamping: a limit over 100 is an error, not 100."""
        if not 1 <= page <= MAX_PAGE:
            raise InvalidInput(f"page must be between 1 and {MAX_PAGE}.", field="page")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
        chosen = default_sort if sort is None else sort
        if chosen not in sortable:
            allowed = ", ".join(sortable)
            raise InvalidInput(f"sort must be one of: {allowed}.", field="sort")
        if order not in ("asc", "desc"):
            raise InvalidInput("order must be asc or desc.", field="order")
        return cls(page=page, limit=limit, sort=chosen, order=order)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total_items: int
    request: PageRequest

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_items / self.request.limit) if self.total_items else 0

    @property
    def has_next(self) -> bool:
        return self.request.page < self.total_pages

    @property
    def has_prev(self) -> bool:
        return self.request.page > 1
