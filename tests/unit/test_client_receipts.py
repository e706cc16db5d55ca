"""meshpeer's side of receipts: when a wait is over, and receipts kept until taken."""

from __future__ import annotations

import asyncio

from adapters import wire
from client.receipts import Receipts, failed, later, reached


def _receipt(message_id: str, state: str) -> wire.Receipt:
    return wire.Receipt(
        message_id=message_id,
        recipient=wire.Recipient(member_id="m", pubkey="ab"),
        state=state,  # type: ignore[arg-type]
        at="2026-12-06T10:00:00.000Z",
    )


def test_a_wait_is_over_when_every_recipient_got_that_far() -> None:
    assert reached({"a": "acked", "b": "pushed"}, "pushed")
    assert not reached({"a": "acked", "b": "pushed"}, "acked")
    assert not reached({"a": "queued"}, "pushed")
    assert not reached({}, "pushed")
    assert not reached({"a": "expired"}, "pushed") and failed({"a": "expired"})


def test_states_never_move_back() -> None:
    assert later(None, "pushed") == "pushed"
    assert later("acked", "pushed") == "acked"
    assert later("held", "pushed") == "pushed"


async def test_receipts_wait_until_taken() -> None:
    receipts = Receipts()
    receipts.arrived(_receipt("x", "pushed"))
    assert [r.state for r in await receipts.next("x")] == ["pushed"]

    waiting = asyncio.create_task(receipts.next("x"))
    await asyncio.sleep(0)
    assert not waiting.done()
    receipts.arrived(_receipt("other", "acked"))
    receipts.arrived(_receipt("x", "acked"))
    assert [r.state for r in await waiting] == ["acked"]
