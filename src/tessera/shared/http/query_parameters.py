"""Unknown query parameters are refused, as unknown body fields are.

Litestar reads the query parameters a handler declares and ignores any other, so a typo
(`serach=`) or a filter the route does not have (`?colour=red`) would change nothing and
say nothing. `KnownQueryParameters.check` makes a name the matched handler does not take,
or a parameter it takes once given twice, a 400 `VALIDATION_ERROR` naming it, shaped as
Litestar's own parameter errors are (`shared.http.errors`).

What a handler takes is worked out once per handler, from Litestar's public description
of it and by Litestar's own rules: the parameters of its signature and of the dependencies
it uses (recursively), and the layered parameters, less the reserved names (`request`,
`data`...), the dependencies, the path parameters and the header and cookie parameters;
a query parameter named with `QueryParameter(name=...)` goes by that name. A handler that
reads the query itself lists those parameters in `opt={"query": (...)}`. `OPTIONS` is not
checked: a CORS preflight carries the query of the request it asks about.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.constants import RESERVED_KWARGS
from litestar.enums import ParamType
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg, ParameterKwarg
from litestar.typing import FieldDefinition

QUERY_OPT = "query"
"""`opt` key: the query parameters a handler reads itself, beyond its signature's."""


@dataclass(frozen=True, slots=True)
class TakenParameters:
    names: frozenset[str]
    repeatable: frozenset[str]
    """The sequences among them (`?tag=a&tag=b`); any other may come once."""


def taken_parameters(handler: HTTPRouteHandler, path_parameters: Iterable[str]) -> TakenParameters:
    """The query parameters Litestar reads for `handler` on a route with these path
    parameters, plus the ones the handler's `opt` names."""
    dependencies = handler.resolve_dependencies()
    ignored = {*RESERVED_KWARGS, *path_parameters}
    taken: dict[str, bool] = dict.fromkeys(handler.opt.get(QUERY_OPT, ()), False)
    pending: list[Mapping[str, FieldDefinition]] = [
        handler.parsed_fn_signature.parameters,
        handler.resolve_layered_parameters(),
    ]
    followed: set[str] = set()
    while pending:
        for name, field in pending.pop().items():
            if name in dependencies:
                if name not in followed:
                    followed.add(name)
                    pending.append(dependencies[name].parsed_fn_signature.parameters)
            elif name not in ignored and (query_name := _query_name(name, field)) is not None:
                taken[query_name] = field.is_non_string_sequence
    return TakenParameters(
        frozenset(taken), frozenset(name for name, sequence in taken.items() if sequence)
    )


def _query_name(name: str, field: FieldDefinition) -> str | None:
    """The query parameter a signature's parameter reads, if it reads one: Litestar takes
    any parameter without a marker from the query."""
    marker = field.kwarg_definition
    if isinstance(marker, ParameterKwarg):
        return (marker.name or name) if marker.param_type is ParamType.QUERY else None
    if isinstance(marker, BodyKwarg) or field.is_di_field:
        return None
    return name


class KnownQueryParameters:
    """The check, with what each handler of one app takes (worked out on the handler's
    first request that has a query)."""

    def __init__(self) -> None:
        self._taken: dict[HTTPRouteHandler, TakenParameters] = {}

    def check(self, request: Request[Any, Any, Any]) -> None:
        """Call only for a request with a query string: one without has nothing to check."""
        if request.method == "OPTIONS":
            return
        handler: HTTPRouteHandler = request.route_handler
        taken = self._taken.get(handler)
        if taken is None:
            taken = self._taken[handler] = taken_parameters(handler, request.path_params)
        given = Counter(name for name, _ in request.query_params.multi_items())
        problems = [_unknown(name, taken) for name in sorted(given) if name not in taken.names]
        problems += [
            _problem(name, f"{name} is given {given[name]} times; send it once.")
            for name in sorted(given)
            if given[name] > 1 and name in taken.names and name not in taken.repeatable
        ]
        if problems:
            raise ValidationException(extra=problems)


def _problem(name: str, message: str) -> dict[str, Any]:
    return {"message": message, "key": name, "source": ParamType.QUERY.value}


def _unknown(name: str, taken: TakenParameters) -> dict[str, Any]:
    listed = ", ".join(sorted(taken.names)) or "none"
    subject = f"{name} is not a known query parameter" if name else "A query parameter has no name"
    return _problem(name, f"{subject} (this route takes {listed}).")
