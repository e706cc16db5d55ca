"""Status inferred from outside the broker (transcripts)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from domain.model import (
    Status,
)


class StatusInferrer(Protocol):
    async def infer(self, cwd: str) -> Status | None:
        """The status the session's transcript implies, or None when there is none."""
        ...

    async def infer_many(self, cwds: Collection[str]) -> dict[str, Status]:
        """`infer` for many working directories at once: the cwds that have an
        inference, each with its status."""
        ...
