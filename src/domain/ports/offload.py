"""Work run off the caller's path (receipts written after the push)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol


class Offload(Protocol):
    """Work that must not hold up the path that starts it (receipts after a push)."""

    async def start(self, work: Coroutine[Any, Any, object]) -> None:
        """Run `work`. A served broker returns at once and logs a failure; the fakes
        run it to the end, so a test sees its effect when the call returns. Work
        started in order begins in that order."""
        ...
