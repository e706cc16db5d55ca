"""uvicorn's protocols with the deadlines and bounds a hostile or stuck client needs
(issue 15; docs/adr/0024-hostile-clients.md):

- a write or close that the peer does not take within `write_timeout` aborts the
  transport (uvicorn's `send()` and `transport.close()` wait on the peer forever);
- every phase before a request is complete (request line, headers, body) or before a
  WebSocket's hello is bounded by `request_timeout`;
- connections in those phases are counted (domain.pending.PendingLimits): beyond the
  limits a connection gets a 503 at once and is closed;
- a pong is not queued behind a write buffer that is already full (a ping flood from
  a socket that does not read grows no memory).

The app reaches its socket's transport through the ASGI scope extension `EXTENSION`
(a `TransportControl`): `abort()` and `authenticated()`."""

from adapters.http.guard.bounds import Guard, Throttled
from adapters.http.guard.control import EXTENSION, TransportControl, transport_control
from adapters.http.guard.protocols import protocols

__all__ = ["EXTENSION", "Guard", "Throttled", "TransportControl", "protocols", "transport_control"]
