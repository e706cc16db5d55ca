"""What a tool call answers: a result (structuredContent and the same JSON as text), a
refusal (isError, one text that says what to do), the broker's refusals in plain
words. (The arguments, read strictly: client/mcp/arguments.py.)"""

from __future__ import annotations

import json
from typing import Any

from client.errors import BrokerError
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
