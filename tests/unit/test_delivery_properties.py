"""Properties over random interleavings of sends, status changes, drops, acks and time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import Priority, Status
from domain.usecases import deliver, status, sweeps
from tests.unit.harness import Client, Harness

Op = tuple[str, ...]

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from(list(Priority))),
        st.tuples(st.just("status"), st.sampled_from("01"), st.sampled_from(list(Status))),
        st.tuples(st.just("drop"), st.sampled_from("01")),
        st.tuples(st.just("connect"), st.sampled_from("01")),
        st.tuples(st.just("ack"), st.sampled_from("01")),
        st.tuples(st.just("wait"), st.sampled_from(["1", "10", "29", "31"])),
    ),
    max_size=40,
)


@dataclass
class Observer:
    """Watches every push to the recipient's sessions, as the recipient would."""

    sent: list[str] = field(default_factory=list)
    priority: dict[str, Priority] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    duplicates_after_ack: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    _read: dict[str, int] = field(default_factory=dict)
    _last_first: dict[Priority, int] = field(default_factory=dict)

    def collect(self, clients: list[Client]) -> None:
        for client in clients:
            pushed = client.connection.pushed
            start = self._read.get(client.connection.id, 0)
            self._read[client.connection.id] = len(pushed)
            for message in pushed[start:]:
                self._observe(message.id)

    def _observe(self, message_id: str) -> None:
        if message_id in self.acked:
            self.duplicates_after_ack.append(message_id)
        if message_id in self.seen:
            return
        self.seen.add(message_id)
        index, priority = self.sent.index(message_id), self.priority[message_id]
        if index < self._last_first.get(priority, -1):
            self.out_of_order.append(message_id)
        self._last_first[priority] = index


async def _play(ops: list[Op]) -> Observer:
    broker = await Harness().start()
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    slots: dict[str, Client | None] = {"0": await broker.connect(bob, "s0"), "1": None}
    clients = [c for c in slots.values() if c is not None]
    seen = Observer()

    async def ack(client: Client) -> None:
        ids = [m.id for m in client.connection.pushed]
        await deliver.client_ack(broker.ctx, client.session, ids)
        seen.acked.update(ids)

    for op in ops:
        slot = slots.get(op[1]) if op[0] != "send" else None
        match op:
            case ("send", priority):
                message_id = await broker.send(sender, bob, "x", Priority(priority))
                seen.sent.append(message_id)
                seen.priority[message_id] = Priority(priority)
            case ("status", _, state) if slot is not None:
                await status.set_status(broker.ctx, slot.session, Status(state))
            case ("drop", name) if slot is not None:
                await broker.drop(slot)
                slots[name] = None
            case ("connect", name) if slot is None:
                slots[name] = await broker.connect(bob, f"s{name}")
                clients.append(slots[name])  # type: ignore[arg-type]
            case ("ack", _) if slot is not None:
                await ack(slot)
            case ("wait", seconds):
                broker.clock.advance(int(seconds))
                await sweeps.sweep_leases(broker.ctx)
        seen.collect(clients)

    # Settle: one idle session that acks whatever it is given until nothing is left.
    final = slots["0"] or await broker.connect(bob, "s0")
    clients.append(final)
    await status.set_status(broker.ctx, final.session, Status.IDLE)
    for _ in range(3):
        seen.collect(clients)
        await ack(final)
        broker.clock.advance(31)
        await sweeps.sweep_leases(broker.ctx)
    seen.collect(clients)
    return seen


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_random_interleavings_never_lose_duplicate_acked_or_reorder_mail(ops: list[Op]) -> None:
    seen = asyncio.run(_play(ops))

    assert set(seen.sent) <= seen.seen, "an acknowledged send was never pushed"
    assert seen.duplicates_after_ack == [], "a message came again after its client_ack"
    assert seen.out_of_order == [], "a first push overtook an earlier one of its priority"
