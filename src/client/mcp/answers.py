"""What a tool call answers: a result (structuredContent and the same JSON as text), a
refusal (isError, one text that says what to do), the broker's refusals in plain
words, and the arguments read strictly."""

from __future__ import annotations

import json
from typing import Any

from client.errors import BrokerError
from protocol.wire import MemberInfo as Member
from protocol.wire import RecipientStatus

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


def as_result(data: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(data, ensure_ascii=False)
    return {"content": [{"type": "text", "text": text}], "structuredContent": data}


def as_refusal(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def broker_words(exc: BrokerError) -> str:
    advice = ADVICE.get(exc.code, f"the broker said: {exc.message}")
    if exc.code == "invalid":  # the broker's words name the field and its bounds
        advice = f"the broker said: {exc.message}. {advice}"
    return f"refused by the broker ({exc.code}): {advice}"


def named_like(name: str, members: list[Member]) -> list[Member]:
    folded = name.casefold()
    return [m for m in members if m.display_name.casefold() == folded]


def not_one(name: str, named: list[Member], members: list[Member]) -> str:
    if named:
        keys = ", ".join(f"{m.display_name} ({m.pubkey})" for m in named)
        return f"several members are named {name!r}: {keys}. Send to one of them by pubkey."
    names = ", ".join(sorted({m.display_name for m in members})) or "none"
    return (
        f"no member of this mesh is named {name!r} (names compare case-insensitively). "
        f"Members: {names}. Use one of these names, a pubkey, or * for everyone."
    )


def string_arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"argument {key!r} is required and must be a non-empty string")
    return value


def integer_arg(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Refused(f"argument {key!r} must be a whole number from {low} to {high}")
    return value


def optional_integer_arg(args: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if args.get(key) is None:
        return None
    return integer_arg(args, key, low, low, high)


def recipient_view(status: RecipientStatus) -> dict[str, Any]:
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
