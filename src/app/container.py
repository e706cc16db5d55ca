"""The only place that knows which adapter serves which port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from dependency_injector import containers, providers

from adapters.cache import CachingDirectory
from adapters.jsonl.transcripts import inferrer_for
from adapters.local import SystemClock, TaskOffload
from adapters.metrics.otel import OtelMetrics
from adapters.postgres.database import Database
from adapters.postgres.liveness import LivenessLock
from adapters.postgres.notifier import PostgresNotifier
from adapters.postgres.stores import (
    PostgresAdmissions,
    PostgresDirectory,
    PostgresInvites,
    PostgresMailbox,
    PostgresPendingSignals,
    PostgresPresenceStore,
    PostgresReceipts,
    PostgresReplayGuard,
)
from adapters.wake import TaskNotifier, wire_delivery
from app.config import Settings
from domain.policy import Policy
from domain.ports import (
    Admissions,
    Clock,
    InviteStore,
    Mailbox,
    MemberDirectory,
    MeshAdmin,
    Metrics,
    PendingSignals,
    PresenceStore,
    ReceiptStore,
    ReplayGuard,
    StatusInferrer,
)
from domain.sessions import SessionRegistry
from domain.usecases.context import Context


async def open_database(dsn: str, max_size: int) -> AsyncIterator[Database]:
    database = await Database.create(dsn, min_size=1, max_size=max_size)
    try:
        yield database
    finally:
        await database.close()


def assemble(
    clock: Clock,
    directory: MemberDirectory,
    admin: MeshAdmin,
    invites: InviteStore,
    presences: PresenceStore,
    mailbox: Mailbox,
    signals: PendingSignals,
    replay: ReplayGuard,
    admissions: Admissions,
    notifier: PostgresNotifier,
    local: TaskNotifier,
    metrics: Metrics,
    inferrer: StatusInferrer,
    policy: Policy,
    sessions: SessionRegistry,
    receipts: ReceiptStore,
    offload: TaskOffload,
) -> Context:
    ctx = Context(
        clock=clock,
        directory=directory,
        admin=admin,
        invites=invites,
        presences=presences,
        mailbox=mailbox,
        signals=signals,
        replay=replay,
        admissions=admissions,
        notifier=notifier,
        metrics=metrics,
        inferrer=inferrer,
        receipts=receipts,
        policy=policy,
        sessions=sessions,
        offload=offload,
    )
    return wire_delivery(ctx, local, notifier)


def _new_instance_id() -> str:
    return uuid.uuid4().hex[:12]


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    dsn = providers.Dependency(instance_of=str)
    pool_size = providers.Object(10)

    database = providers.Resource(open_database, dsn=dsn, max_size=pool_size)
    clock = providers.Singleton(SystemClock)
    sessions = providers.Singleton(SessionRegistry)
    # Made when a container first asks for it, once per container: every process (and
    # every `serve --workers` worker) is an instance of its own, never one id made at
    # import and inherited by a fork.
    instance = providers.Singleton(_new_instance_id)
    metrics = providers.Singleton(OtelMetrics)
    inferrer = providers.Singleton(inferrer_for)
    policy = providers.Callable(lambda s: s.policy(), settings)

    stored_directory = providers.Singleton(PostgresDirectory, database)
    # Sends and hellos read members through a short-lived cache (ADR 0018); the admin
    # commands write around it and tell every instance through the notifier.
    directory = providers.Singleton(
        CachingDirectory,
        stored_directory,
        clock,
        max_age=providers.Callable(lambda s: timedelta(seconds=s.member_cache_seconds), settings),
        # Nothing is cached until the notifier listens for other processes' changes
        # (a process that never listens, like an admin command, never caches).
        live=False,
    )
    local_notifier = providers.Singleton(TaskNotifier, sessions, directory)
    notifier = providers.Singleton(
        PostgresNotifier,
        local_notifier,
        database,
        dsn,
        instance,
        on_lost=metrics.provided.listen_lost,
    )
    invites = providers.Singleton(PostgresInvites, database)
    liveness = providers.Singleton(LivenessLock, dsn, instance)
    presences = providers.Singleton(PostgresPresenceStore, database, liveness)
    mailbox = providers.Singleton(PostgresMailbox, database)
    signals = providers.Singleton(PostgresPendingSignals, database)
    replay = providers.Singleton(PostgresReplayGuard, database)
    admissions = providers.Singleton(PostgresAdmissions, database, liveness)
    receipts = providers.Singleton(PostgresReceipts, database)
    offload = providers.Singleton(TaskOffload)

    context = providers.Singleton(
        assemble,
        clock=clock,
        directory=directory,
        admin=stored_directory,
        invites=invites,
        presences=presences,
        mailbox=mailbox,
        signals=signals,
        replay=replay,
        admissions=admissions,
        notifier=notifier,
        local=local_notifier,
        metrics=metrics,
        inferrer=inferrer,
        policy=policy,
        sessions=sessions,
        receipts=receipts,
        offload=offload,
    )
