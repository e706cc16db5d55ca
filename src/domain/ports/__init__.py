"""The ports: small Protocols named after the job, one kind per module (ADR 0029).
Import them from here."""

from domain.ports.admissions import Admissions, Entered, Entry
from domain.ports.clock import Clock
from domain.ports.connection import Connection, ConnectionGone
from domain.ports.guards import PendingSignals, ReplayGuard
from domain.ports.inference import StatusInferrer
from domain.ports.invites import InviteStore, Joiner
from domain.ports.mailbox import Mailbox
from domain.ports.members import MemberDirectory, MeshAdmin
from domain.ports.metrics import Metrics
from domain.ports.notifier import Notifier
from domain.ports.offload import Offload
from domain.ports.presences import Admitted, Arrival, PresenceStore
from domain.ports.receipts import ReceiptStore

__all__ = [
    "Admissions",
    "Admitted",
    "Arrival",
    "Clock",
    "Connection",
    "ConnectionGone",
    "Entered",
    "Entry",
    "InviteStore",
    "Joiner",
    "Mailbox",
    "MemberDirectory",
    "MeshAdmin",
    "Metrics",
    "Notifier",
    "Offload",
    "PendingSignals",
    "PresenceStore",
    "ReceiptStore",
    "ReplayGuard",
    "StatusInferrer",
]
