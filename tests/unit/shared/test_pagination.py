from __future__ import annotations

import pytest

from tessera.shared.domain.errors import InvalidInput
from tessera.shared.domain.pagination import Page, PageRequest

SORTABLE = ("created_at", "email")


def test_defaults_are_first_page_of_twenty_newest_first() -> None:
    request = PageRequest.parse(sortable=SORTABLE)
    assert (request.page, request.limit, request.sort, request.order) == (
        1,
        20,
        "created_at",
        "desc",
    )
    assert request.offset == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"sort": "password_hash"}, "sort"),
        ({"order": "sideways"}, "order"),
    ],
)
def test_out_of_range_values_are_refused_not_clamped(
    arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        PageRequest.parse(sortable=SORTABLE, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_limit_of_exactly_one_hundred_is_allowed() -> None:
    assert PageRequest.parse(limit=100, sortable=SORTABLE).limit == 100


@pytest.mark.parametrize(
    ("page", "total", "pages", "has_next", "has_prev"),
    [
        (1, 0, 0, False, False),
        (1, 45, 3, True, False),
        (3, 45, 3, False, True),
        (2, 40, 2, False, True),
    ],
)
def test_page_reports_totals_and_neighbours(
    page: int, total: int, pages: int, has_next: bool, has_prev: bool
) -> None:
    result: Page[object] = Page(
        items=[], total_items=total, request=PageRequest(page=page, limit=20)
    )
    assert (result.total_pages, result.has_next, result.has_prev) == (pages, has_next, has_prev)
    assert PageRequest(page=page, limit=20).offset == (page - 1) * 20
