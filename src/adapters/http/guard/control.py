"""How the app reaches its socket's transport: the ASGI scope extension `EXTENSION`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXTENSION = "meshbroker.transport"


@dataclass(slots=True)
class TransportControl:
    """What the app may do to its socket's transport."""

    abort: Callable[[], None]
    authenticated: Callable[[], None]
    # Writes a text frame now and says True when the server would have written it at
    # once (open, writable); False: nothing was written, go through ASGI `send`.
    send_now: Callable[[str], bool] = lambda _text: False


def transport_control(scope: Any) -> TransportControl | None:
    extensions = scope.get("extensions") or {}
    control = extensions.get(EXTENSION)
    return control if isinstance(control, TransportControl) else None
