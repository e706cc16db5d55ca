"""A send frame: checked now, in frame order; committed in a task of its own; its ack,
or its refusal (adapters/http/errors.py ack_code)."""

from __future__ import annotations

import logging

from adapters.http import frames
from adapters.http.errors import ack_code
from adapters.http.gateway import Gateway
from adapters.http.ws_connection import who
from adapters.http.ws_replies import Farewell, Reply, start
from domain.errors import CloseReason, DomainError, Revoked
from domain.model import Priority
from domain.sessions import Session
from domain.usecases import send
from protocol import wire

log = logging.getLogger("meshbroker.ws")


async def send_frame(frame: wire.Send, size: int, session: Session, gateway: Gateway) -> Reply:
    """Check the send now, in frame order; commit it in a task of its own, so that
    the next frames are read while it waits for its group commit."""
    request = send.SendRequest(
        target_spec=frame.target_spec,
        nonce=frame.nonce,
        ciphertext=frame.ciphertext,
        priority=Priority(frame.priority),
        ttl_seconds=frame.ttl_seconds,
        frame_bytes=size,
        escalate_after_seconds=frame.escalate_after_seconds,
    )
    try:
        outgoing = await send.prepare(gateway.ctx, session, request)
    except Revoked as exc:  # revoked since its hello: closed as a revocation closes it
        log.info("ws sender revoked", extra={"ctx": who(session)})
        return Farewell(refused_ack(frame, exc), CloseReason.REVOKED)
    except DomainError as exc:
        return refused_ack(frame, exc)
    return start(_commit(frame, outgoing, gateway))


async def _commit(frame: wire.Send, outgoing: send.Outgoing, gateway: Gateway) -> str:
    try:
        message_id = await send.commit(gateway.ctx, outgoing)
    except DomainError as exc:
        return refused_ack(frame, exc)
    return frames.text(
        wire.Ack(
            queued=True,
            id=frame.id,
            message_id=message_id,
            escalate_after_seconds=frame.escalate_after_seconds,
        )
    )


def refused_ack(frame: wire.Send, exc: DomainError) -> str:
    return frames.text(wire.Ack(queued=False, id=frame.id, error=ack_code(exc)))
