"""One live socket of this instance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.errors import CloseReason
from domain.model import (
    Message,
)
from domain.receipts import Receipt
from domain.watches import PeerIdle


class Connection(Protocol):
    """One live socket of this instance."""

    @property
    def id(self) -> str: ...

    async def push(self, messages: Sequence[Message]) -> None:
        """Write these messages, in order. Raise ConnectionGone if the socket is closed."""
        ...

    async def notify(self, event: Receipt | PeerIdle) -> None:
        """Write a receipt or a watch's answer. Raise ConnectionGone if closed."""
        ...

    async def close(self, reason: CloseReason) -> None: ...


class ConnectionGone(Exception):
    """The socket closed before a write."""
