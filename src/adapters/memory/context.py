from __future__ import annotations

from functools import partial

from adapters.cache import CachingDirectory
from adapters.memory.admissions import InMemoryAdmissions
from adapters.memory.clock import FakeClock
from adapters.memory.directory import InMemoryDirectory
from adapters.memory.guards import InMemoryPendingSignals, InMemoryReplayGuard
from adapters.memory.invites import InMemoryInvites
from adapters.memory.mailbox import InMemoryMailbox
from adapters.memory.metrics import RecordingMetrics
from adapters.memory.notifier import LocalNotifier
from adapters.memory.presences import InMemoryPresenceStore
from adapters.memory.receipts import InMemoryReceipts
from adapters.memory.status import FixedInferrer
from domain.policy import Policy
from domain.ports import MemberDirectory
from domain.sessions import SessionRegistry
from domain.usecases.context import Context
from domain.usecases.deliver import deliver
from domain.usecases.receipts import hand_out
from domain.usecases.watch import answer_watches


def memory_context(
    policy: Policy | None = None, clock: FakeClock | None = None, *, cached: bool = True
) -> Context:
    """A whole broker in memory: every port faked, delivery wired to the notifier.
    Like the served broker, sends and hellos read members through a CachingDirectory
    (`cached=False`: straight from the fake) that the notifier invalidates."""
    clock = clock or FakeClock()
    directory = InMemoryDirectory()
    sessions = SessionRegistry()
    notifier = LocalNotifier(sessions)
    lookups: MemberDirectory = directory
    if cached:
        notifier.cache = CachingDirectory(directory, clock)
        lookups = notifier.cache
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
    notifier.on_wake = partial(deliver, ctx)
    notifier.on_idle = partial(answer_watches, ctx)
    notifier.on_receipts = partial(hand_out, ctx)
    return ctx
