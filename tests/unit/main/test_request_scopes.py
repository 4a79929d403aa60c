"""Nothing an HTTP request can reach is SESSION-scoped.

`tessera.shared.http.di` opens each HTTP request's REQUEST container from one SESSION-level
container that every HTTP request shares (dishka puts SESSION between APP and REQUEST, and
opening a SESSION level per request cost too much). SESSION scope therefore means a
WebSocket connection: a SESSION-scoped object that an HTTP request resolved would be built
once and then shared by every later request, its state leaking from caller to caller.

The graph is read through dishka's public objects: the container's `registry` and each
registry's `child_registry`, `scope` and `factories`, whose `dependencies` and
`kw_dependencies` name what each factory takes (the same walk `dishka.plotter` makes).
An HTTP request reaches what its route handlers ask for with `FromDishka[...]`, and what
its REQUEST container builds (guards resolve the `Principal` there), with everything those
depend on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from inspect import signature
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest
from dishka import AsyncContainer, Scope
from dishka.entities.key import DependencyKey
from dishka.entities.marker import BaseMarker
from dishka.integrations.base import default_parse_dependency
from dishka.registry import Registry
from litestar import Litestar
from litestar.routes import HTTPRoute

from tessera.main.ioc import make_container
from tessera.main.web import create_app
from tessera.shared.http.di import APP_SCOPED
from tests.e2e.harness import settings_for

KEY = "request-scope-unit-test-key-of-forty-chars"
MODES = {
    "embedded": {},
    "production": {
        "database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        "redis_url": "redis://127.0.0.1:6379/15",
    },
}


def registries(container: AsyncContainer) -> list[Registry]:
    """The container's registries, APP first, then each inner scope."""
    found = [container.registry]
    while (child := found[-1].child_registry) is not None:
        found.append(child)
    return found


def handler_dependencies(
    app: Litestar, *, app_scoped: bool | None = None
) -> Iterator[DependencyKey]:
    """What the HTTP route handlers ask for with `FromDishka[...]` (WebSocket handlers, a
    SESSION of their own each, are left out); with `app_scoped`, only those of the handlers
    made by `inject_app_scoped` (True) or by `inject` (False)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            # `inject` (dishka's `wrap_injection`) keeps the handler as it was written here.
            written = getattr(handler.fn, "__dishka_orig_func__", None)
            if written is None:
                continue
            if app_scoped is not None and getattr(handler.fn, APP_SCOPED, False) != app_scoped:
                continue
            hints = get_type_hints(written, include_extras=True)
            for name, parameter in signature(written).parameters.items():
                key = default_parse_dependency(parameter, hints.get(name, Any))
                if key is not None:
                    yield key


def is_activation_marker(key: DependencyKey) -> bool:
    """A condition dishka checks before using a factory (`from_context` adds one: "is it
    in the context?"), or the marker its `Has` check is handed: not an object anything
    builds."""
    hint = key.type_hint
    if hint is DependencyKey:
        return True
    return get_origin(hint) is Literal and all(isinstance(a, BaseMarker) for a in get_args(hint))


def scope_of(key: DependencyKey, chain: list[Registry]) -> tuple[Scope, list[Registry]]:
    """Where a container at `chain[-1]` finds `key`: the innermost registry that has it,
    and that registry's chain (what its factory's own dependencies are looked up in)."""
    for depth in range(len(chain) - 1, -1, -1):
        if key in chain[depth].factories:
            scope = chain[depth].scope
            assert isinstance(scope, Scope)
            return scope, chain[: depth + 1]
    raise AssertionError(f"{key.type_hint!r} has no factory in the container")


def session_scoped_on_the_request_path(app: Litestar, container: AsyncContainer) -> list[str]:
    chain = registries(container)
    request_level = next(n for n, registry in enumerate(chain) if registry.scope is Scope.REQUEST)
    request_chain = chain[: request_level + 1]
    roots: Iterable[DependencyKey] = [
        *handler_dependencies(app),
        *request_chain[-1].factories,
    ]
    offending: list[str] = []
    seen: set[tuple[DependencyKey, Scope]] = set()
    pending = [(key, request_chain) for key in roots]
    while pending:
        key, looked_up_in = pending.pop()
        if is_activation_marker(key):
            continue
        scope, found_in = scope_of(key, looked_up_in)
        if (key, scope) in seen:
            continue
        seen.add((key, scope))
        factory = found_in[-1].factories[key]
        if scope is Scope.SESSION and key.type_hint is not AsyncContainer:
            offending.append(repr(key.type_hint))
        dependencies = [*factory.dependencies, *factory.kw_dependencies.values()]
        pending.extend((dependency, found_in) for dependency in dependencies)
    assert len(seen) > 100, "the walk found too little of the graph to prove anything"
    return sorted(offending)


@pytest.mark.parametrize("mode", MODES)
def test_no_provider_an_http_request_reaches_is_session_scoped(mode: str) -> None:
    settings = settings_for(jwt_secret_key=KEY, **MODES[mode])
    assert settings.is_embedded is (mode == "embedded")
    container = make_container(settings)
    app = create_app(container, settings)
    assert session_scoped_on_the_request_path(app, container) == []


@pytest.mark.parametrize("mode", MODES)
def test_handlers_injected_from_the_application_ask_only_for_application_scoped_objects(
    mode: str,
) -> None:
    """`inject_app_scoped` resolves from the APP container: anything request-scoped would
    fail there, on the first request of that route."""
    settings = settings_for(jwt_secret_key=KEY, **MODES[mode])
    container = make_container(settings)
    app = create_app(container, settings)
    application = registries(container)[0].factories
    keys = list(handler_dependencies(app, app_scoped=True))
    assert keys, "no handler is injected from the application's container"
    for key in keys:
        assert key in application, f"{key.type_hint!r} is not application-scoped"
