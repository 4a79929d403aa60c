"""`create_app`: the Litestar application around a container."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from dishka import AsyncContainer
from litestar import Litestar, Request, Router
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from tessera.features.audit.http.controller import AuditEventsController
from tessera.features.files.http.controller import files_router
from tessera.features.flags.http.controllers import FlagsAdminController, FlagsController
from tessera.features.identity.application.authenticate import Authenticate
from tessera.features.identity.http.auth_controller import AuthController
from tessera.features.identity.http.avatar_controller import AvatarController
from tessera.features.identity.http.invitations_controller import InvitationsController
from tessera.features.identity.http.me_controller import MeController
from tessera.features.identity.http.mfa_controller import MfaController
from tessera.features.identity.http.passkeys_controller import PasskeysController
from tessera.features.identity.http.users_controller import UsersController
from tessera.features.notifications.http.controller import NotificationsController
from tessera.features.notifications.http.websocket import notifications_socket
from tessera.features.ops.adapters.pool_gauges import PoolGauges, PoolGaugesRefresher
from tessera.features.ops.adapters.prometheus import HttpMetrics, forget_dead_workers
from tessera.features.ops.http.controller import HealthController
from tessera.features.ops.http.metrics import metrics
from tessera.features.tenancy.http.controller import TenantsController
from tessera.features.webhooks.http.controller import WebhooksController
from tessera.main import docs_page, openapi
from tessera.main.background import EmbeddedBackground
from tessera.main.draining import SocketsDrain
from tessera.main.settings import Settings
from tessera.shared.application.rate_limits import RateLimiter
from tessera.shared.domain.errors import DomainError
from tessera.shared.http.caller import CallerMiddleware
from tessera.shared.http.di import setup_di
from tessera.shared.http.edge import EdgeMiddleware, security_headers
from tessera.shared.http.errors import (
    DOMAIN_ERROR_CODES,
    DomainErrorHandler,
    ErrorCode,
    http_exception_handler,
    unhandled_exception_handler,
)
from tessera.shared.http.input_guard import (
    check_path_parameters,
    check_query,
    guarded_request_class,
)
from tessera.shared.http.local_storage import LocalStorageController
from tessera.shared.http.query_parameters import KnownQueryParameters

MAX_JSON_BODY_BYTES = 1024 * 1024
API_PREFIX = "/api/v1"


class UnsupportedMediaType(HTTPException):
    status_code = 415
    detail = "Send the request body as application/json."


def before_request_hook() -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The checks before any handler's arguments are parsed: its parameters hold no
    character a driver cannot store, its query only parameters it takes, and its body is
    JSON unless it takes another kind."""
    known = KnownQueryParameters()

    async def before_request(request: Request[Any, Any, Any]) -> None:
        scope = request.scope  # a GET of a fixed path without a query checks nothing
        if scope["query_string"]:
            check_query(request)
            known.check(request)
        if scope["path_params"]:
            check_path_parameters(request)
        if scope["method"] in _WITH_BODY:
            require_json_body(request)

    return before_request


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def require_json_body(request: Request[Any, Any, Any]) -> None:
    """Bodies (of a POST, PUT or PATCH) are JSON unless a handler says otherwise with
    `opt={"body": "multipart"}`."""
    if not _has_body(request.headers):
        return
    if request.route_handler.opt.get("body", "json") != "json":
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType()


def _has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length not in ("", "0"))


def _cors(settings: Settings) -> CORSConfig | None:
    if not settings.cors_allow_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_allow_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=[
            "X-Request-ID",
            "Retry-After",
            "RateLimit",
            "RateLimit-Policy",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        allow_credentials=False,
        max_age=600,
    )


def create_app(container: AsyncContainer, settings: Settings) -> Litestar:
    handlers: dict[Any, Any] = {
        DomainError: DomainErrorHandler(DOMAIN_ERROR_CODES),
        HTTPException: http_exception_handler,
        Exception: unhandled_exception_handler,  # 503 for a dependency down, else 500
    }
    api = Router(
        path=API_PREFIX,
        route_handlers=[
            AuthController,
            MfaController,
            PasskeysController,
            MeController,
            UsersController,
            TenantsController,
            FlagsAdminController,
            FlagsController,
            InvitationsController,
            AvatarController,
            files_router(settings.file_max_bytes),
            NotificationsController,
            notifications_socket,
            WebhooksController,
            AuditEventsController,
        ],
    )
    if not settings.uses_object_store:  # a local folder: links come back to the app
        # Handed out whole as links and served only without S3_BUCKET: left out of the
        # OpenAPI document, which is then the same whatever the configuration.
        api.register(Router("/", route_handlers=[LocalStorageController], include_in_schema=False))
    startup: list[Callable[..., Awaitable[None]]] = []
    shutdown: list[Callable[..., Awaitable[None]]] = [container.close]
    if settings.is_embedded:
        background = EmbeddedBackground(container)
        startup, shutdown = [background.start], [background.stop, container.close]
    refresher = PoolGaugesRefresher(partial(container.get, PoolGauges), forget_dead_workers)
    drain = SocketsDrain(container)
    http_metrics = HttpMetrics()
    startup = [*startup, refresher.start, drain.start, http_metrics.start]
    shutdown = [http_metrics.stop, refresher.stop, *shutdown]
    app = Litestar(
        # the WebSocket also at the root, as the seed documents it (SPEC §3.7)
        route_handlers=[HealthController, metrics, api, notifications_socket, docs_page.docs],
        exception_handlers=handlers,
        before_request=before_request_hook(),
        request_class=guarded_request_class(json_max_depth=settings.json_max_depth),
        middleware=[
            CallerMiddleware(
                partial(container.get, Authenticate), partial(container.get, RateLimiter), settings
            ),
        ],
        cors_config=_cors(settings),
        request_max_body_size=MAX_JSON_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="Tessera API",
            version="1.0.0",
            path=docs_page.SCHEMA_PATH,
            render_plugins=openapi.render_plugins(),
            openapi_router=docs_page.schema_router(),
        ),
        on_startup=startup,
        on_shutdown=shutdown,
        logging_config=None,
        debug=False,
    )
    setup_di(container, app)
    app.asgi_handler = EdgeMiddleware(
        app.asgi_handler,
        headers=security_headers(production=settings.is_production),
        max_body_bytes=MAX_JSON_BODY_BYTES,
        streaming_paths=(f"{API_PREFIX}{LocalStorageController.path}",),
        observe=http_metrics.observe,
    )
    return app


__all__ = ["API_PREFIX", "ErrorCode", "create_app"]
