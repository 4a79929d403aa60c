"""Pages of a table's rows for the list endpoints, on advanced-alchemy's repository."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from advanced_alchemy.filters import LimitOffset, OrderBy, StatementFilter
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.repository.typing import ModelT
from asyncpg import Record
from sqlalchemy import ColumnElement, Select, bindparam, func, over, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.shared.adapters.driver_reads import DriverReads
from tessera.shared.domain.pagination import PageRequest, SortOrder

Filter = StatementFilter | ColumnElement[bool]

Conditions = Callable[[frozenset[str]], Sequence[Filter]]
"""Builds a list's conditions from the names of the values a request gives, each value as
`bindparam(name)`; what it builds depends on those names alone (see `Rows.page_of`)."""

_LIMIT, _OFFSET = "rows_limit", "rows_offset"
TOTAL = "rows_total"
"""The window count's column: how many rows match, on every row of a page."""
_TEMPLATES: dict[Hashable, Select[Any]] = {}
"""Page statements by shape: a few per list (which filters, which order), never values."""
_MAX_TEMPLATES = 1024


class Rows(SQLAlchemyAsyncRepository[ModelT]):
    """advanced-alchemy's repository on a unit of work's session, for reading pages.

    A list that reads more than its model's rows (a join, a loader option) names that
    statement once, as the subclass's `base`; its values are bound parameters too.

    SQLAlchemy's errors pass through unwrapped: a lost connection stays an
    `OperationalError`, which the HTTP layer answers with 503.
    """

    base: ClassVar[Select[Any] | None] = None

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session=session, statement=self.base, wrap_exceptions=False)
        self._session = session

    async def page_of(
        self,
        page: PageRequest,
        conditions: Conditions,
        values: Mapping[str, Any],
        *filters: Filter,
        sortable: Collection[str],
        tie: str = "id",
        tie_order: SortOrder | None = None,
    ) -> tuple[list[ModelT], int]:
        """`page` of the rows matching the conditions `conditions(frozenset(values))` builds,
        with `values` bound to them at execution, and `filters` (values in them, such as a
        search) on top; ordered by the column `page.sort` (one of `sortable`) in the page's
        order, ties broken by the unique column `tie` (in `tie_order`, by default the
        page's); and how many rows match in all.

        One query counts as it reads (a window `count(*) over()`); that count comes with the
        rows, so a page past the last one asks for the total separately.

        Why values are bound, not built in: building a statement from advanced-alchemy's
        filters and generating its SQLAlchemy cache key cost more than running it. Without
        `filters`, the statement of a shape (this list, the value names, the order) is built
        once and reused, so its cache key is SQLAlchemy's memoised one and the compiled form
        is found at once; only the values differ between requests. `conditions` must depend
        on the names it is given and nothing else. Decision record 0013."""
        query = self.page_query(
            page, conditions, values, *filters, sortable=sortable, tie=tie, tie_order=tie_order
        )
        found, total = await _page_rows(self._session, query.statement, query.values)
        if not found and query.past_the_first:
            _, total = await _page_rows(self._session, query.statement, query.first_row())
        return found, total

    @classmethod
    def page_query(
        cls,
        page: PageRequest,
        conditions: Conditions,
        values: Mapping[str, Any],
        *filters: Filter,
        sortable: Collection[str],
        tie: str = "id",
        tie_order: SortOrder | None = None,
    ) -> PageQuery:
        """The statement `page_of` runs, with the values to bind to it: for running it
        elsewhere (`page_of_records`)."""
        if page.sort not in sortable:
            raise ValueError(f"{page.sort!r} is not one of the sortable columns {sortable}")
        names = frozenset(values)
        order = page.order if tie_order is None else tie_order
        shape = (cls, conditions, names, page.sort, page.order, tie, order)
        statement = _TEMPLATES.get(shape)
        if statement is None:
            statement = cls._template(conditions(names), page, tie, order)
            if len(_TEMPLATES) < _MAX_TEMPLATES:
                _TEMPLATES[shape] = statement
        reused = not filters
        if filters:
            statement = _filtered(statement, filters, cls.model_type)
        bound = {**values, _LIMIT: page.limit, _OFFSET: page.offset}
        return PageQuery(statement, bound, reused=reused, past_the_first=page.offset > 0)

    @classmethod
    def _template(
        cls, conditions: Sequence[Filter], page: PageRequest, tie: str, tie_order: SortOrder
    ) -> Select[Any]:
        # LimitOffset takes ints; SQLAlchemy's `limit()`/`offset()` take bound parameters too.
        pages = LimitOffset(
            limit=cast(int, bindparam(_LIMIT)), offset=cast(int, bindparam(_OFFSET))
        )
        ordering = (OrderBy(page.sort, page.order), OrderBy(tie, tie_order))
        every = cls.base if cls.base is not None else select(cls.model_type)
        statement = _filtered(every, (*conditions, *ordering, pages), cls.model_type)
        return statement.add_columns(over(func.count()).label(TOTAL))


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A page's statement and the values to bind to it; `reused` when the statement is a
    list's kept one (the same object for every request of its shape)."""

    statement: Select[Any]
    values: Mapping[str, Any]
    reused: bool
    past_the_first: bool
    """The page starts past the first row: if it is empty, the total is asked again."""

    def first_row(self) -> Mapping[str, Any]:
        """The values that read only the first row, for the total when the page is empty."""
        return {**self.values, _LIMIT: 1, _OFFSET: 0}


async def page_of_records(reads: DriverReads, query: PageQuery) -> tuple[list[Record], int]:
    """`query`'s page as asyncpg's records, each with its columns by name, and the total
    (what `Rows.page_of` returns, on `DriverReads`)."""
    found = await reads.fetch(query.statement, query.values, reused=query.reused)
    if not found and query.past_the_first:
        first = await reads.fetch(query.statement, query.first_row(), reused=query.reused)
        return found, first[0][TOTAL] if first else 0
    return found, found[0][TOTAL] if found else 0


async def _page_rows(
    session: AsyncSession, statement: Select[Any], values: Mapping[str, Any]
) -> tuple[list[Any], int]:
    """The models `statement` reads and the window count that comes with each row."""
    result = await session.execute(statement, values)
    found: list[Any] = []
    total = 0
    for model, count in result.tuples():
        found.append(model)
        total = count
    return found, total


def _filtered(statement: Select[Any], filters: Sequence[Filter], model: type[Any]) -> Select[Any]:
    """`statement` with `filters` applied as the repository applies them: a condition as a
    WHERE clause, an advanced-alchemy filter through its `append_to_statement`."""
    for each in filters:
        if isinstance(each, ColumnElement):
            statement = statement.where(each)
        else:
            statement = each.append_to_statement(statement, model)
    return statement
