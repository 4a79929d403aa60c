"""The floor: a bare Litestar app answering a constant `GET /health`, and a WebSocket at
`/ws` that echoes text (the floor for memory per socket), nothing else."""

from __future__ import annotations

from litestar import Litestar, WebSocket, get, websocket

_HEALTHY = {"status": "healthy"}


@get("/health")
async def health() -> dict[str, str]:
    return _HEALTHY


@websocket("/ws")
async def echo(socket: WebSocket) -> None:  # type: ignore[type-arg]
    await socket.accept()
    while True:
        await socket.send_text(await socket.receive_text())


app = Litestar(route_handlers=[health, echo])
