"""One frame after hello to its use case, and the reply; a domain failure becomes an
error frame (adapters/http/errors.py ws_code)."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from adapters.http import frames
from adapters.http.errors import ws_code
from adapters.http.gateway import Gateway
from adapters.http.ws_connection import who
from adapters.http.ws_replies import Reply, start
from adapters.http.ws_send import send_frame
from domain.errors import DomainError
from domain.model import Status
from domain.sessions import Session
from domain.usecases import deliver, peers, receipts, status, watch
from domain.watches import PeerIdle
from protocol import wire

log = logging.getLogger("meshbroker.ws")


async def dispatch(frame: wire.ClientFrame, size: int, session: Session, gateway: Gateway) -> Reply:
    ctx = gateway.ctx
    match frame:
        case wire.Send():
            return await send_frame(frame, size, session, gateway)
        case wire.ClientAck():
            return start(_acked(deliver.client_ack(ctx, session, frame.message_ids)))
        case wire.SetStatus():
            record = await guarded(status.set_status(ctx, session, Status(frame.status)))
            if isinstance(record, str):
                return record
            log.info("ws set_status", extra={"ctx": {**who(session), "status": frame.status}})
            return frames.text(
                wire.StatusReply(
                    presence_id=session.presence_id,
                    status=record.status.value,
                    source=record.source.value,
                )
            )
        case wire.ListPeers():
            listed = await guarded(peers.list_peers(ctx, session), frame.id)
            if isinstance(listed, str):
                return listed
            return frames.text(wire.Peers(peers=[frames.peer(p) for p in listed], id=frame.id))
        case wire.ListMembers():
            roster = await guarded(peers.list_members(ctx, session), frame.id)
            if isinstance(roster, str):
                return roster
            members = [frames.member(m) for m in roster]
            return frames.text(wire.Members(members=members, id=frame.id))
        case wire.Hello():
            return frames.error("invalid", "this connection already said hello")
        case wire.MessageStatus() | wire.Watch() | wire.Unwatch():
            return await sender_view(frame, session, gateway)
    return None


async def sender_view(
    frame: wire.MessageStatus | wire.Watch | wire.Unwatch, session: Session, gateway: Gateway
) -> Reply:
    """message_status, watch and unwatch (spec/receipts.md)."""
    ctx = gateway.ctx
    match frame:
        case wire.MessageStatus():
            reports = await guarded(
                receipts.message_status(ctx, session, frame.message_id), frame.id
            )
            if isinstance(reports, str):
                return reports
            return frames.text(
                wire.MessageStatusReply(
                    message_id=frame.message_id,
                    recipients=[frames.recipient_status(r) for r in reports],
                    id=frame.id,
                )
            )
        case wire.Watch():
            answer = await guarded(watch.watch(ctx, session, frame.id, frame.pubkey), frame.id)
            if isinstance(answer, PeerIdle):
                return frames.event_text(answer)
            return answer  # type: ignore[no-any-return]
        case wire.Unwatch():
            await watch.unwatch(ctx, session, frame.id)
    return None


async def guarded(work: Any, echo: wire.Echo = None) -> Any:
    """Run a use case; a domain failure becomes the `error` frame to send instead."""
    try:
        return await work
    except DomainError as exc:
        return frames.error(ws_code(exc), str(exc), echo)


async def _acked(work: Coroutine[Any, Any, int]) -> None:
    """A client_ack has no reply, not even when it fails (protocol.md)."""
    await guarded(work)
