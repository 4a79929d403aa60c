"""The OpenAPI document, told what Litestar cannot read from the handlers' types.

The types say the rest: bodies and their constraints (msgspec `Meta`), `data` required and
never null in `Success[T]`, ids as `uuid.UUID`. Here, once per app, before the document is
first served, only what no type holds:

- an operation whose handler takes the caller (`Principal`), or reads it from the scope
  (`opt={READS_CALLER: True}`), requires the bearer token (`security`), and lists 401 and
  403; every other one says it needs none (`security: []`): derived from the dependency,
  so it cannot drift from what the handler really needs;
- a JSON body refuses unknown fields (`forbid_unknown_fields`, which Litestar does not
  render) and every free-form string a request carries holds no NUL (`input_guard`
  refuses it wherever it comes, whatever the field's type says);
- a field that may be left out is its type, not a `oneOf` of that one type;
- a handler that reads its multipart body itself is described as taking the `file` part;
- a `POST /collection` links to the operations on the resource it creates;
- every operation lists the error envelopes it can answer with, all in the one
  `ErrorEnvelope` shape: 400 and 413 for any (a query parameter, a body may come with
  any request), 404 for any path parameter, body or id in the query, 415 for a POST, PUT
  or PATCH, 409 for a change, 429 where rate limits
  apply, 503 where a dependency is asked, 500 everywhere; `/auth` operations may answer
  401 and 403 without a token (wrong credentials, a spent link, an unverified or inactive
  account); 429 and 503 carry `Retry-After`. The middleware and guards that answer them
  run before any handler, so no handler's signature can say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, get_args, get_origin, get_type_hints

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.routes import HTTPRoute

from tessera.main.docs_page import DocsPage
from tessera.shared.domain.caller import Principal
from tessera.shared.http.caller import READS_CALLER

BEARER = "BearerToken"
_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
_MULTIPART = {
    "required": True,
    "description": "multipart/form-data with the file in the field `file`.",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}
_NOT_LIMITED = ("/health", "/metrics", "/schema")
_NO_NUL = "^[^\\u0000]*$"
_CHANGES = frozenset({"post", "put", "patch", "delete"})
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
_ERRORS = {
    400: (
        "VALIDATION_ERROR: a parameter or the body is invalid, or a query parameter is not "
        "one this operation takes or is repeated; `field` names it."
    ),
    401: "UNAUTHORIZED: no valid access token of a live session, or wrong credentials.",
    403: "FORBIDDEN: the caller's role or account state does not allow this.",
    404: "NOT_FOUND: nothing by that id within the caller's reach.",
    409: "CONFLICT: the change conflicts with the current state.",
    413: "PAYLOAD_TOO_LARGE: the body is over the limit.",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not in the media type this operation takes.",
    429: "RATE_LIMIT_EXCEEDED: too many requests; see Retry-After and the RateLimit headers.",
    500: "INTERNAL_ERROR: an unexpected error (logged with the request id).",
    503: "SERVICE_UNAVAILABLE: a dependency (database, cache, storage...) does not answer.",
}


def operations_where(
    app: Litestar, test: Callable[[HTTPRouteHandler], bool]
) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every operation whose handler passes `test`."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"{(\w+):[^}]+}", r"{\1}", route.path)
        for handler in route.route_handlers:
            if test(handler):
                found.update((path, method.lower()) for method in handler.http_methods)
    return found


def _takes_multipart(handler: HTTPRouteHandler) -> bool:
    """Handlers that read a multipart upload themselves (`opt={"body": "multipart"}`)."""
    return handler.opt.get("body") == "multipart"


def _takes_caller(handler: HTTPRouteHandler) -> bool:
    """Whether the handler reads the caller from the scope, or dishka injects it (only
    `@inject` handlers can take it)."""
    if handler.opt.get(READS_CALLER):
        return True
    function = getattr(handler.fn, "__dishka_orig_func__", None)
    if function is None:
        return False
    hints = get_type_hints(function, include_extras=True)  # dishka resolved them already
    return any(_is_caller(hint) for hint in hints.values())


def _is_caller(hint: Any) -> bool:
    return hint is Principal or (get_origin(hint) is not None and Principal in get_args(hint))


def document(
    schema: dict[str, Any],
    secured: set[tuple[str, str]],
    multipart: set[tuple[str, str]],
) -> None:
    """Rewrite `schema` (Litestar's cached document) in place; once is enough."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from POST /api/v1/auth/login or /auth/refresh.",
    }
    _no_choice_of_one(schema)
    for name in _request_bodies(schema):
        # every JSON body is a struct with forbid_unknown_fields: any other field is a 400
        components["schemas"][name]["additionalProperties"] = False
        _refuse_nul(components["schemas"][name], components["schemas"], set())
    _link_created_resources(schema)
    for path, method, operation in _operations(schema):
        operation["security"] = [{BEARER: []}] if (path, method) in secured else []
        if (path, method) in multipart:
            operation["requestBody"] = _MULTIPART
        for parameter in operation.get("parameters", []):
            _refuse_nul(parameter.get("schema", {}), components["schemas"], set())
        responses = operation.setdefault("responses", {})
        for status in _statuses(path, method, operation):
            responses[str(status)] = {
                "description": _ERRORS[status],
                "content": {"application/json": {"schema": _ENVELOPE}},
            }
            if status in {429, 503}:
                responses[str(status)]["headers"] = _RETRY_AFTER


def _no_choice_of_one(node: Any) -> None:
    """Litestar writes a field that may be left out (`X | msgspec.UnsetType`) as `oneOf: [X]`,
    a choice of one that generators turn into a union of one member: say `X` itself."""
    if isinstance(node, list):
        for item in node:
            _no_choice_of_one(item)
        return
    if not isinstance(node, dict):
        return
    for key in ("oneOf", "anyOf"):
        choices = node.get(key)
        if isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], dict):
            del node[key]
            node.update({**choices[0], **node})
    for value in node.values():
        _no_choice_of_one(value)


def _refuse_nul(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Every free-form string a request carries gets `pattern: ^[^\\u0000]*$`: NUL is a 400
    wherever it comes (`shared.http.input_guard`). Strings with a format, an enum, a const
    or a pattern of their own are left as they are; referenced components are followed."""
    if isinstance(node, list):
        for item in node:
            _refuse_nul(item, components, seen)
        return
    if not isinstance(node, dict):
        return
    reference = node.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        name = reference.rpartition("/")[2]
        if name not in seen:
            seen.add(name)
            _refuse_nul(components.get(name), components, seen)
        return
    kinds = node.get("type")
    is_string = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    if is_string and not {"format", "enum", "const", "pattern"} & node.keys():
        node["pattern"] = _NO_NUL
    for key in ("properties", "additionalProperties", "items", "oneOf", "anyOf", "allOf"):
        child = node.get(key)
        values = child.values() if key == "properties" and isinstance(child, dict) else [child]
        for value in values:
            _refuse_nul(value, components, seen)


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "options", "head"}:
                yield path, method, operation


def _link_created_resources(schema: dict[str, Any]) -> None:
    """OpenAPI links from each `POST /collection` (201) to the operations on
    `/collection/{param}`, fed with the created resource's id (or `key`), so clients and
    stateful testers can follow them."""
    paths = schema.get("paths", {})
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        for member, member_item in paths.items():
            found = re.fullmatch(re.escape(path) + r"/\{(\w+)\}", member)
            if found is None:
                continue
            param = found.group(1)
            field = "key" if param == "key" else "id"
            for method, operation in member_item.items():
                if method not in {"get", "put", "patch", "delete"}:
                    continue
                name = f"{operation.get('operationId', method + member)}"
                created.setdefault("links", {})[name] = {
                    "operationId": operation.get("operationId"),
                    "parameters": {param: f"$response.body#/data/{field}"},
                }


def _request_bodies(schema: dict[str, Any]) -> set[str]:
    """Names of the component schemas that are JSON request bodies."""
    names = set()
    for _, _, operation in _operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        if reference.startswith("#/components/schemas/"):
            names.add(reference.rpartition("/")[2])
    return names


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    body = "requestBody" in operation
    # Any route: a query parameter it does not take, or holding NUL, is a 400
    # (`before_request`), a body over the limit a 413 before routing (`shared.http.edge`),
    # whatever the operation declares.
    statuses = [400, 413, 500]
    if operation.get("security") or path.startswith("/api/v1/auth/"):
        statuses += [401, 403]
    if "{" in path or body or _takes_an_id(operation):  # an id may name nothing in reach
        statuses.append(404)
    if body or method in {"post", "put", "patch"}:  # a body not in its media type
        statuses.append(415)
    if path.startswith("/api/") and method in _CHANGES:
        statuses.append(409)
    if not path.startswith(_NOT_LIMITED):
        statuses.append(429)
    if path.startswith("/api/") or path.startswith("/health/"):
        statuses.append(503)
    return sorted(statuses)


def _takes_an_id(operation: dict[str, Any]) -> bool:
    """An id among the query parameters (`tenant_id` of the lists admins may filter)."""
    return any(
        parameter.get("in") == "query" and parameter.get("name", "").endswith("_id")
        for parameter in operation.get("parameters", [])
    )


class _Documenting:
    """A render plugin that documents the schema (once, when first served) before rendering
    it; the routes come from the request's app, so building an app pays nothing for it."""

    _done: set[int]

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        done = self.__dict__.setdefault("_done", set())
        if id(openapi_schema) not in done:
            _document_app(request.app, openapi_schema)
            done.add(id(openapi_schema))
        return super().render(request, openapi_schema)  # type: ignore[misc, no-any-return]


class DocumentedJson(_Documenting, JsonRenderPlugin):
    """`/schema/openapi.json`."""


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The docs page (first: also at `/schema`) and the documented JSON."""
    return [DocsPage(), DocumentedJson()]


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The document as `/schema/openapi.json` serves it (for `tessera openapi`)."""
    schema = app.openapi_schema.to_schema()
    _document_app(app, schema)
    return schema


def _document_app(app: Litestar, schema: dict[str, Any]) -> None:
    document(schema, operations_where(app, _takes_caller), operations_where(app, _takes_multipart))
