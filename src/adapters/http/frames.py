"""Translating between wire frames and domain values; classifying frames that fail."""

from __future__ import annotations

from datetime import datetime

import msgspec

from adapters import wire
from domain.admission import Hello
from domain.model import Member, Message, PeerView
from domain.receipts import Receipt
from domain.usecases.receipts import RecipientReport
from domain.watches import PeerIdle


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_hello(frame: wire.Hello) -> Hello:
    return Hello(
        mesh_id=frame.mesh_id,
        member_id=frame.member_id,
        pubkey=frame.pubkey,
        session_id=frame.session_id,
        pid=frame.pid,
        cwd=frame.cwd,
        timestamp_ms=frame.timestamp,
        signature=frame.signature,
        capabilities=frozenset(frame.capabilities),
    )


def push_text(message: Message) -> str:
    frame = wire.Push(
        message_id=message.id,
        mesh_id=message.mesh_id,
        sender_pubkey=message.sender_pubkey,
        priority=message.priority.value,
        nonce=message.nonce,
        ciphertext=message.ciphertext,
        created_at=iso(message.created_at),
        escalated=message.escalated,
    )
    return wire.encoder.encode(frame).decode()


def event_text(event: Receipt | PeerIdle) -> str:
    if isinstance(event, PeerIdle):
        return text(
            wire.PeerIdle(
                id=event.watch_id,
                member_id=event.member_id,
                session_id=event.session_id,
                at=iso(event.at),
            )
        )
    return text(
        wire.Receipt(
            message_id=event.message_id,
            recipient=wire.Recipient(
                member_id=event.recipient_member_id, pubkey=event.recipient_pubkey
            ),
            state=event.state.value,  # type: ignore[arg-type]
            at=iso(event.at),
            escalated=event.escalated,
        )
    )


def recipient_status(report: RecipientReport) -> wire.RecipientStatus:
    status = report.status
    return wire.RecipientStatus(
        member_id=status.member_id,
        pubkey=report.pubkey,
        display_name=report.display_name,
        state=status.state.value,
        reason=status.reason,
        at=iso(status.at) if status.at is not None else None,
        escalated=status.escalated,
    )


def peer(view: PeerView) -> wire.Peer:
    return wire.Peer(
        member_id=view.member_id,
        pubkey=view.pubkey,
        display_name=view.display_name,
        presence_id=view.presence_id,
        session_id=view.session_id,
        status=view.status.value,
        online=view.online,
        connected_at=iso(view.connected_at),
    )


def member(m: Member) -> wire.MemberInfo:
    return wire.MemberInfo(
        member_id=m.id, pubkey=m.pubkey, display_name=m.display_name, role=m.role.value
    )


def text(frame: wire.Frame) -> str:
    return wire.encoder.encode(frame).decode()


def error(code: str, message: str, echo: wire.Echo = None) -> str:
    return text(wire.Error(code=code, message=message, id=echo))


def refusal(raw: str | bytes, problem: str, code: str = "invalid") -> tuple[str, bool]:
    """The reply to a frame that cannot be served, as protocol.md says: a `send` gets
    an ack (echoing `id` when readable), other frames an `error`. Also says whether the
    frame was a send."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return error(code, "frame is not valid JSON"), False
    except RecursionError:
        return error(code, "frame is nested too deeply"), False
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return error(code, "frame must be a JSON object with a string `type`"), False
    echo = value.get("id")
    echo = echo if isinstance(echo, str | int) and not isinstance(echo, bool) else None
    kind = value["type"]
    if kind == "send":
        return text(wire.Ack(queued=False, id=echo, error=code)), True
    if kind not in wire.CLIENT_TYPES and code == "invalid":
        return error("unknown_type", f"unknown frame type {kind[:64]!r}", echo), False
    return error(code, problem, echo), False
