"""Query parameters `page, limit, sort, order` as a Litestar dependency for list endpoints."""

# Annotations are evaluated eagerly here: Litestar reads the closure values in them.

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal

from litestar.di import Provide
from litestar.params import QueryParameter

from tessera.shared.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE, PageRequest


def page_request(sortable: Sequence[str], *, default_sort: str = "created_at") -> Provide:
    """`dependencies={"paging": page_request([...])}` and `paging: NamedDependency[PageRequest]`.

    The OpenAPI document shows the ranges; `PageRequest.parse` enforces them and the sort
    fields, so a `limit` of 101 or an unknown `sort` is a 400 naming the parameter.
    """
    fields = tuple(sortable)

    async def provide(
        page: Annotated[
            int, QueryParameter(ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}.")
        ] = 1,
        limit: Annotated[
            int,
            QueryParameter(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}."),
        ] = DEFAULT_LIMIT,
        sort: Annotated[
            str, QueryParameter(description="The field to sort by.", schema_extra={"enum": fields})
        ] = default_sort,
        order: Annotated[Literal["asc", "desc"], QueryParameter()] = "desc",
    ) -> PageRequest:
        return PageRequest.parse(
            page=page,
            limit=limit,
            sort=sort,
            order=order,
            sortable=fields,
            default_sort=default_sort,
        )

    handler: Callable[..., Awaitable[PageRequest]] = provide
    return Provide(handler)
