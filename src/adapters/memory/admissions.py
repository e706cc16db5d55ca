"""A hello's writes on the fakes: the separate stores' calls, in the order and with the
refusals `mesh.enter_presence` (migrations/0007) applies in one transaction. Nothing
awaits between them on a real socket, so no other coroutine of the test sees a half."""

from __future__ import annotations

from domain.errors import Unauthorized
from domain.ports import (
    Admissions,
    Entered,
    Entry,
    Mailbox,
    PendingSignals,
    PresenceStore,
    ReplayGuard,
)


class InMemoryAdmissions(Admissions):
    def __init__(
        self,
        presences: PresenceStore,
        replay: ReplayGuard,
        mailbox: Mailbox,
        signals: PendingSignals,
    ) -> None:
        self.presences = presences
        self.replay = replay
        self.mailbox = mailbox
        self.signals = signals

    async def enter(self, entry: Entry) -> Entered:
        a = entry.arrival
        if entry.signature is not None and entry.keep_until is not None:
            first = await self.replay.first_use(entry.signature, entry.keep_until)
            if not first:
                raise Unauthorized("hello signature already used")
        admitted = await self.presences.connect(
            a,
            capacity=entry.capacity,
            grace_cutoff=entry.grace_cutoff,
            initial=entry.initial,
            manual_cutoff=entry.manual_cutoff,
        )
        live = await self.presences.connections_of(a.member_id)
        released = await self.mailbox.release_orphans(a.member_id, live)
        signal = await self.signals.take(a.session_id, a.pid, a.cwd, entry.signal_since)
        return Entered(admitted, signal, released)
