"""`tools/call`: the mesh tools. A result carries `structuredContent` and the same
JSON as one text item; a refusal is a result with `isError` and one text item that
says what went wrong and what to do (never a JSON-RPC error)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from adapters.wire import MemberInfo as Member
from adapters.wire import RecipientStatus
from client.crypto import OpenError, x25519_public
from client.errors import BrokerError, MeshpeerError
from client.mcp.link import Connected, Link, Unavailable
from client.mcp.protocol import INVALID_PARAMS, RpcError
from client.peer import PUBKEY

PRIORITIES = ("now", "next", "low")
LONGEST_TTL = 30 * 86400  # the broker's longest message TTL; its own TTL may be shorter
STATUSES = ("idle", "working", "dnd")
ADVICE = {
    "no_recipient": "the broker knows no such member in this mesh (or it was revoked). "
    "Call mesh_peers, or check the name with the person who runs the mesh.",
    "rate_limited": "you sent too many messages in a short time (the broker's per-member "
    "budget). Wait a minute, then send again; combine short messages into one.",
    "too_large": "the message is larger than the broker accepts. Shorten it or split it "
    "into several messages.",
    "unavailable": "the broker's database is down and nothing was stored. Try again in a minute.",
    "unsupported_target": "the broker does not accept this kind of recipient. Use a "
    "member's name, its pubkey or *.",
    "invalid": "the broker could not take the message as sent. Send plain text; "
    "escalate_after_seconds must not exceed the message's lifetime on the broker.",
    "capacity": "the mesh has as many connections as the broker allows. Try again later.",
}


class Refused(Exception):
    """A tool call that cannot be done; the text says why and what to do."""


def _result(data: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(data, ensure_ascii=False)
    return {"content": [{"type": "text", "text": text}], "structuredContent": data}


def _refusal(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _broker_words(exc: BrokerError) -> str:
    advice = ADVICE.get(exc.code, f"the broker said: {exc.message}")
    if exc.code == "invalid":  # the broker's words name the field and its bounds
        advice = f"the broker said: {exc.message}. {advice}"
    return f"refused by the broker ({exc.code}): {advice}"


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
            return _refusal("arguments must be a JSON object")
        try:
            return _result(await handler(arguments))
        except (Refused, Unavailable) as exc:
            return _refusal(str(exc))
        except BrokerError as exc:
            return _refusal(_broker_words(exc))
        except MeshpeerError as exc:
            return _refusal(
                f"the broker did not answer ({exc}). meshpeer reconnects by itself: try "
                "again in a few seconds."
            )

    # ---- mesh_send

    async def send(self, args: dict[str, Any]) -> dict[str, Any]:
        to = _string(args, "to")
        text = _string(args, "text")
        priority = args.get("priority", "next")
        if priority not in PRIORITIES:
            raise Refused("priority must be one of now, next (the default) or low")
        escalate = _optional_integer(args, "escalate_after_seconds", 1, LONGEST_TTL)
        if escalate is not None and priority == "now":
            raise Refused(
                "escalate_after_seconds applies to priority next or low only: a now message "
                "is delivered at once anyway. Drop it, or send with priority next."
            )
        connected = self._link.require()
        try:
            target, recipients = await self._target(connected, to.strip(), fresh=False)
        except Refused:  # maybe a member added since the roster was cached
            target, recipients = await self._target(connected, to.strip(), fresh=True)
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

    async def _target(
        self, connected: Connected, to: str, *, fresh: bool
    ) -> tuple[str, list[Member]]:
        members = await connected.names.members(fresh=fresh or to == "*")
        me = connected.config.identity.pubkey
        if to == "*":
            return "*", [m for m in members if m.pubkey != me]
        if "/" in to:
            head, session = to.split("/", 1)
            if not session:
                raise Refused(f"{to!r}: name/sessionId needs a session id after the '/'")
            member = self._member(head, members)
            return f"{member.pubkey}/{session}", [member]
        if PUBKEY.fullmatch(to):
            return to, [self._member(to, members)]
        named = _named(to, members)
        if len(named) == 1:
            return named[0].pubkey, named
        if not named:
            for peer in await connected.peer.list_peers():
                if peer.session_id == to:
                    member = self._member(peer.pubkey, members)
                    return f"{peer.pubkey}/{peer.session_id}", [member]
        raise Refused(_not_one(to, named, members))

    def _member(self, who: str, members: list[Member]) -> Member:
        if PUBKEY.fullmatch(who):
            found = next((m for m in members if m.pubkey == who), None)
            if found is not None:
                return found
            try:
                x25519_public(who)
            except OpenError:
                raise Refused(f"{who!r} is not a valid member pubkey") from None
            return Member(member_id="", pubkey=who, display_name=who[:12], role="member")
        named = _named(who, members)
        if len(named) != 1:
            raise Refused(_not_one(who, named, members))
        return named[0]

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
        wait = _integer(args, "wait_seconds", 0, 0, 600)
        limit = _integer(args, "limit", 20, 1, 100)
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
        message_id = _string(args, "message_id").strip()
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
            "recipients": [_recipient(r) for r in reply.recipients],
        }

    # ---- mesh_wait_idle

    async def wait_idle(self, args: dict[str, Any]) -> dict[str, Any]:
        to = _string(args, "to").strip()
        timeout = _integer(args, "timeout_seconds", 60, 1, 600)
        if to == "*":
            raise Refused("mesh_wait_idle waits for one member: give its name or pubkey, not *")
        connected = self._link.require()
        try:
            _, [member] = await self._target(connected, to, fresh=False)
        except Refused:
            _, [member] = await self._target(connected, to, fresh=True)
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


def _recipient(status: RecipientStatus) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": status.display_name,
        "pubkey": status.pubkey,
        "memberId": status.member_id,
        "state": status.state,
    }
    if status.reason is not None:
        row["reason"] = status.reason
    if status.at is not None:
        row["at"] = status.at
    if status.escalated:
        row["escalated"] = True
    return row


def _named(name: str, members: list[Member]) -> list[Member]:
    folded = name.casefold()
    return [m for m in members if m.display_name.casefold() == folded]


def _not_one(name: str, named: list[Member], members: list[Member]) -> str:
    if named:
        keys = ", ".join(f"{m.display_name} ({m.pubkey})" for m in named)
        return f"several members are named {name!r}: {keys}. Send to one of them by pubkey."
    names = ", ".join(sorted({m.display_name for m in members})) or "none"
    return (
        f"no member of this mesh is named {name!r} (names compare case-insensitively). "
        f"Members: {names}. Use one of these names, a pubkey, or * for everyone."
    )


def _string(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"argument {key!r} is required and must be a non-empty string")
    return value


def _integer(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Refused(f"argument {key!r} must be a whole number from {low} to {high}")
    return value


def _optional_integer(args: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if args.get(key) is None:
        return None
    return _integer(args, key, low, low, high)
