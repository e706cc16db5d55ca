"""Receipt frames for the messages a peer sent, kept until someone waits for them."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from adapters import wire

KEEP = 1000  # messages whose receipts are kept (the most recently sent)
_ORDER = {"queued": 0, "held": 0, "pushed": 1, "acked": 2, "expired": 2}


class Receipts:
    def __init__(self) -> None:
        self._kept: OrderedDict[str, list[wire.Receipt]] = OrderedDict()
        self._changed = asyncio.Event()

    def track(self, message_id: str) -> None:
        self._kept.setdefault(message_id, [])
        while len(self._kept) > KEEP:
            self._kept.popitem(last=False)

    def arrived(self, receipt: wire.Receipt) -> None:
        self.track(receipt.message_id)
        self._kept[receipt.message_id].append(receipt)
        self._changed.set()

    async def next(self, message_id: str) -> list[wire.Receipt]:
        """The receipts of this message not taken yet, waiting for one if none is."""
        while not self._kept.get(message_id):
            self._changed.clear()
            await self._changed.wait()
        taken, self._kept[message_id] = self._kept[message_id], []
        return taken


def later(current: str | None, new: str) -> str:
    if current is None or _ORDER[new] > _ORDER[current]:
        return new
    return current


def reached(states: dict[str, str], until: str) -> bool:
    """Every recipient is at `until` or beyond (expired never satisfies a wait)."""
    if not states:
        return False
    wanted = {"pushed": {"pushed", "acked"}, "acked": {"acked"}}[until]
    return all(state in wanted for state in states.values())


def failed(states: dict[str, str]) -> bool:
    return any(state == "expired" for state in states.values())
