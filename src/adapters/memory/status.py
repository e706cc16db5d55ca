from __future__ import annotations

from domain.model import Status
from domain.ports import StatusInferrer


class FixedInferrer(StatusInferrer):
    """Infers what a test sets per cwd; nothing elsewhere (the null inferrer when empty)."""

    def __init__(self) -> None:
        self.by_cwd: dict[str, Status] = {}

    async def infer(self, cwd: str) -> Status | None:
        return self.by_cwd.get(cwd)
