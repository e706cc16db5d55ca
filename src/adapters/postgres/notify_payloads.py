"""What the NOTIFY payloads carry and how they are cut: references only (ids and states,
never message content), in chunks under Postgres's 8000-byte cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from domain.receipts import DeliveryState, Transition

_T = TypeVar("_T")
CHANNEL = "meshbroker"
MAX_PAYLOAD = 7000  # bytes; Postgres refuses NOTIFY payloads of 8000 and more


def chunks(ids: list[str], prefix: int) -> list[list[str]]:
    return packs(ids, prefix, lambda member_id: len(member_id) + 3)


def receipt_row(t: Transition) -> list[object]:
    return [
        t.message_id,
        t.mesh_id,
        t.sender_member_id,
        t.sender_presence_id,
        t.recipient_member_id,
        t.state.value,
        t.at.isoformat(),
        int(t.escalated),
    ]


def receipt_from(row: list[Any]) -> Transition:
    message_id, mesh_id, sender, presence, recipient, state, at, escalated = row
    return Transition(
        message_id=str(message_id),
        mesh_id=str(mesh_id),
        sender_member_id=str(sender),
        sender_presence_id=str(presence),
        recipient_member_id=str(recipient),
        state=DeliveryState(state),
        at=datetime.fromisoformat(at),
        escalated=bool(escalated),
    )


def packs(items: list[_T], prefix: int, cost: Callable[[_T], int]) -> list[list[_T]]:
    """`items` cut into chunks whose payload stays under MAX_PAYLOAD, in order."""
    chunks: list[list[_T]] = [[]]
    size = prefix
    for item in items:
        if chunks[-1] and size + cost(item) > MAX_PAYLOAD:
            chunks.append([])
            size = prefix
        chunks[-1].append(item)
        size += cost(item)
    return [c for c in chunks if c]


def json_size(item: object) -> int:
    """The bytes an item adds to a JSON list payload (its text and a comma)."""
    return len(json.dumps(item, separators=(",", ":"))) + 1
