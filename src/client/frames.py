"""Reading broker frames and close codes on the client side."""

from __future__ import annotations

import logging

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidURI

from client.errors import Fatal, Replaced, TryAgain
from protocol import wire

log = logging.getLogger("meshpeer")
FATAL_REASONS = frozenset({"unauthorized", "revoked"})
REPLACED = 4000


def log_unmatched(frame: wire.BrokerFrame) -> None:
    if isinstance(frame, wire.Error):
        log.warning("broker error %s: %s", frame.code, frame.message)
    else:
        log.debug("unmatched %s frame", type(frame).__name__)


def decode(raw: str | bytes) -> wire.BrokerFrame | None:
    try:
        frame: wire.BrokerFrame = wire.broker_decoder.decode(raw)
        return frame
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("ignoring a frame the client cannot read: %s", exc)
        return None


def raise_for_close(ws: ClientConnection) -> None:
    """After a clean close: stop for good on `unauthorized`/`revoked`, else reconnect."""
    code, reason = ws.close_code, ws.close_reason or ""
    if code == 1008 and reason in FATAL_REASONS:
        raise Fatal(f"the broker closed the session: {reason}")
    if code == REPLACED:
        raise Replaced(f"connection replaced ({reason})")
    raise TryAgain(f"connection closed ({code} {reason})".strip())


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt finished yet"
    if isinstance(exc, InvalidURI):
        return f"bad URL: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
