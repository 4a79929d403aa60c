"""Pages of a table's rows for the list endpoints, on advanced-alchemy's repository."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from advanced_alchemy.filters import LimitOffset, OrderBy, StatementFilter
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.repository.typing import ModelT
from sqlalchemy import ColumnElement, Select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.shared.domain.pagination import PageRequest, SortOrder

Filter = StatementFilter | ColumnElement[bool]


class Rows(SQLAlchemyAsyncRepository[ModelT]):
    """advanced-alchemy's repository on a unit of work's session, for reading pages.

    SQLAlchemy's errors pass through unwrapped: a lost connection stays an
    `OperationalError`, which the HTTP layer answers with 503.
    """

    def __init__(self, session: AsyncSession, *, statement: Select[Any] | None = None) -> None:
        super().__init__(session=session, statement=statement, wrap_exceptions=False)

    async def page(
        self,
        page: PageRequest,
        *filters: Filter,
        sortable: Collection[str],
        tie: str = "id",
        tie_order: SortOrder | None = None,
    ) -> tuple[list[ModelT], int]:
        """`page` of the rows matching `filters`, ordered by the column `page.sort` (one of
        `sortable`) in the page's order, ties broken by the unique column `tie` (in
        `tie_order`, by default the page's), and how many rows match in all.

        One query counts as it reads (a window `count(*) over()`); that count comes with the
        rows, so a page past the last one asks for the total separately."""
        if page.sort not in sortable:
            raise ValueError(f"{page.sort!r} is not one of the sortable columns {sortable}")
        ordering = (
            OrderBy(page.sort, page.order),
            OrderBy(tie, page.order if tie_order is None else tie_order),
        )
        found, total = await self.get_many_and_count(
            *filters, *ordering, LimitOffset(limit=page.limit, offset=page.offset)
        )
        if not found and page.offset:
            total = await self.count(*filters)
        return found, total
