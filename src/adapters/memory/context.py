from __future__ import annotations

from adapters.cache import CachingDirectory
from adapters.memory.admissions import InMemoryAdmissions
from adapters.memory.clock import FakeClock
from adapters.memory.directory import InMemoryDirectory
from adapters.memory.guards import InMemoryPendingSignals, InMemoryReplayGuard
from adapters.memory.invites import InMemoryInvites
from adapters.memory.mailbox import InMemoryMailbox
from adapters.memory.metrics import RecordingMetrics
from adapters.memory.presences import InMemoryPresenceStore
from adapters.memory.receipts import InMemoryReceipts
from adapters.memory.status import FixedInferrer
from adapters.wake import LocalNotifier, wire_delivery
from domain.policy import Policy
from domain.ports import MemberDirectory
from domain.sessions import SessionRegistry
from domain.usecases.context import Context


def memory_context(
    policy: Policy | None = None, clock: FakeClock | None = None, *, cached: bool = True
) -> Context:
    """A whole broker in memory: every port faked, delivery wired to the notifier.
    Like the served broker, sends and hellos read members through a CachingDirectory
    (`cached=False`: straight from the fake) that the notifier invalidates."""
    clock = clock or FakeClock()
    directory = InMemoryDirectory()
    sessions = SessionRegistry()
    lookups: MemberDirectory = directory
    cache = CachingDirectory(directory, clock) if cached else None
    if cache is not None:
        lookups = cache
    notifier = LocalNotifier(sessions, cache)
    presences = InMemoryPresenceStore(directory)
    mailbox = InMemoryMailbox(presences)
    signals = InMemoryPendingSignals()
    replay = InMemoryReplayGuard()
    ctx = Context(
        clock=clock,
        directory=lookups,
        admin=directory,
        invites=InMemoryInvites(directory),
        presences=presences,
        mailbox=mailbox,
        signals=signals,
        replay=replay,
        admissions=InMemoryAdmissions(presences, replay, mailbox, signals),
        notifier=notifier,
        metrics=RecordingMetrics(),
        inferrer=FixedInferrer(),
        receipts=InMemoryReceipts(mailbox),
        policy=policy or Policy(),
        sessions=sessions,
    )
    return wire_delivery(ctx, notifier)
