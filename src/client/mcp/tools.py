"""`tools/call`: the mesh tools. A result carries `structuredContent` and the same
JSON as one text item; a refusal is a result with `isError` and one text item that
says what went wrong and what to do (never a JSON-RPC error)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from client.errors import BrokerError, MeshpeerError
from client.mcp.answers import (
    Refused,
    as_refusal,
    as_result,
    broker_words,
    recipient_view,
)
from client.mcp.arguments import integer_arg, optional_integer_arg, string_arg
from client.mcp.link import Link, Unavailable
from client.mcp.protocol import INVALID_PARAMS, RpcError
from client.mcp.recipients import resolve_to

PRIORITIES = ("now", "next", "low")
LONGEST_TTL = 30 * 86400  # the broker's longest message TTL; its own TTL may be shorter
STATUSES = ("idle", "working", "dnd")


class Tools:
    def __init__(self, link: Link) -> None:
        self._link = link

    async def call(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        handler = {
            "mesh_send": self.send,
            "mesh_peers": self.peers,
            "mesh_inbox": self.inbox,
            "mesh_status": self.status,
            "mesh_message_status": self.message_status,
            "mesh_wait_idle": self.wait_idle,
        }.get(name if isinstance(name, str) else "")
        if handler is None:
            raise RpcError(INVALID_PARAMS, f"unknown tool: {name!r}")
        if not isinstance(arguments, dict):
            return as_refusal("arguments must be a JSON object")
        try:
            return as_result(await handler(arguments))
        except (Refused, Unavailable) as exc:
            return as_refusal(str(exc))
        except BrokerError as exc:
            return as_refusal(broker_words(exc))
        except MeshpeerError as exc:
            return as_refusal(
                f"the broker did not answer ({exc}). meshpeer reconnects by itself: try "
                "again in a few seconds."
            )

    # ---- mesh_send

    async def send(self, args: dict[str, Any]) -> dict[str, Any]:
        to = string_arg(args, "to")
        text = string_arg(args, "text")
        priority = args.get("priority", "next")
        if priority not in PRIORITIES:
            raise Refused("priority must be one of now, next (the default) or low")
        escalate = optional_integer_arg(args, "escalate_after_seconds", 1, LONGEST_TTL)
        if escalate is not None and priority == "now":
            raise Refused(
                "escalate_after_seconds applies to priority next or low only: a now message "
                "is delivered at once anyway. Drop it, or send with priority next."
            )
        connected = self._link.require()
        try:
            target, recipients = await resolve_to(connected, to.strip(), fresh=False)
        except Refused:  # maybe a member added since the roster was cached
            target, recipients = await resolve_to(connected, to.strip(), fresh=True)
        ack = await connected.peer.send(target, text, priority, escalate_after_seconds=escalate)
        if not ack.queued:
            raise BrokerError(ack.error or "refused", "not queued")
        result: dict[str, Any] = {
            "messageId": ack.message_id,
            "queued": True,
            "encrypted": target != "*",
            "to": [{"name": m.display_name, "pubkey": m.pubkey} for m in recipients],
        }
        if escalate is not None:
            result["escalateAfterSeconds"] = ack.escalate_after_seconds or escalate
        return result

    # ---- mesh_peers

    async def peers(self, args: dict[str, Any]) -> dict[str, Any]:
        connected = self._link.require()
        listed = await connected.peer.list_peers()
        session_id = self._link.session_id
        rows = [
            {
                "name": p.display_name,
                "pubkey": p.pubkey,
                "memberId": p.member_id,
                "sessionId": p.session_id,
                "status": p.status,
                "online": p.online,
                "connectedAt": p.connected_at,
            }
            for p in listed
        ]
        own = next((r for r in rows if r["sessionId"] == session_id), None)
        me = {k: v for k, v in (own or {}).items() if k not in ("online", "connectedAt")}
        if own is None:
            config = connected.config
            me = {
                "pubkey": config.identity.pubkey,
                "memberId": config.member_id,
                "sessionId": session_id,
            }
        return {"self": me, "peers": [r for r in rows if r["sessionId"] != session_id]}

    # ---- mesh_inbox

    async def inbox(self, args: dict[str, Any]) -> dict[str, Any]:
        wait = integer_arg(args, "wait_seconds", 0, 0, 600)
        limit = integer_arg(args, "limit", 20, 1, 100)
        deadline = time.monotonic() + wait
        while True:
            self._link.arrived.clear()
            shown = self._link.inbox.claim_unread(self._link.session_id, "mesh_inbox", limit=limit)
            left = deadline - time.monotonic()
            if shown or left <= 0:
                return {"messages": [m.as_json() for m in shown]}
            # Look again at least every second: another process may store for this session.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._link.arrived.wait(), timeout=min(left, 1.0))

    # ---- mesh_status

    async def status(self, args: dict[str, Any]) -> dict[str, Any]:
        status = args.get("status")
        if status not in STATUSES:
            raise Refused("status must be idle, working or dnd")
        reply = await self._link.require().peer.set_status(status)
        return {"status": reply.status, "source": reply.source}

    # ---- mesh_message_status

    async def message_status(self, args: dict[str, Any]) -> dict[str, Any]:
        message_id = string_arg(args, "message_id").strip()
        peer = self._link.require().peer
        try:
            reply = await peer.message_status(message_id)
        except BrokerError as exc:
            if exc.code != "not_found":
                raise
            raise Refused(
                f"no message with that id was sent by you ({message_id!r}), or its delivery "
                "state is no longer kept (a day after the last recipient took it or it "
                "expired). Use the messageId that mesh_send returned."
            ) from None
        return {
            "messageId": reply.message_id,
            "recipients": [recipient_view(r) for r in reply.recipients],
        }

    # ---- mesh_wait_idle

    async def wait_idle(self, args: dict[str, Any]) -> dict[str, Any]:
        to = string_arg(args, "to").strip()
        timeout = integer_arg(args, "timeout_seconds", 60, 1, 600)
        if to == "*":
            raise Refused("mesh_wait_idle waits for one member: give its name or pubkey, not *")
        connected = self._link.require()
        try:
            _, [member] = await resolve_to(connected, to, fresh=False)
        except Refused:
            _, [member] = await resolve_to(connected, to, fresh=True)
        try:
            idle = await connected.peer.watch_idle(member.pubkey, timeout)
        except BrokerError as exc:
            if exc.code != "rate_limited":
                raise
            raise Refused(
                "this session already waits for too many peers (at most 100 at a time). "
                "Let some of those waits end, then try again."
            ) from None
        if idle is None:
            return {"idle": False}
        return {"idle": True, "name": member.display_name, "sessionId": idle.session_id}
