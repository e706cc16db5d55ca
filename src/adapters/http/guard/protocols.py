"""The guarded protocol classes uvicorn is given."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from adapters.http.guard.bounds import Guard
from adapters.http.guard.h11 import GuardedH11
from adapters.http.guard.websocket import GuardedWebSocket


def protocols(guard: Guard) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn.Config(http=..., ws=...)."""

    class Ws(GuardedWebSocket):
        pass

    Ws.guard = guard

    class Http(GuardedH11):
        pass

    Http.guard = guard
    return Http, Ws
