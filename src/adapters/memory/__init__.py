"""In-memory implementations of every port: tiny, real, and held to the same contract
tests as the Postgres ones."""

from adapters.memory.clock import FakeClock
from adapters.memory.context import memory_context
from adapters.memory.directory import InMemoryDirectory
from adapters.memory.guards import InMemoryPendingSignals, InMemoryReplayGuard
from adapters.memory.invites import InMemoryInvites
from adapters.memory.mailbox import InMemoryMailbox
from adapters.memory.metrics import RecordingMetrics
from adapters.memory.presences import InMemoryPresenceStore
from adapters.memory.status import FixedInferrer

__all__ = [
    "FakeClock",
    "FixedInferrer",
    "InMemoryDirectory",
    "InMemoryInvites",
    "InMemoryMailbox",
    "InMemoryPendingSignals",
    "InMemoryPresenceStore",
    "InMemoryReplayGuard",
    "RecordingMetrics",
    "memory_context",
]
