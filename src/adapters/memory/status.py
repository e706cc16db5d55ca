from __future__ import annotations

from collections.abc import Collection

from domain.model import Status
from domain.ports import StatusInferrer


class FixedInferrer(StatusInferrer):
    """Infers what a test sets per cwd; nothing elsewhere (the null inferrer when empty)."""

    def __init__(self) -> None:
        self.by_cwd: dict[str, Status] = {}

    async def infer(self, cwd: str) -> Status | None:
        return self.by_cwd.get(cwd)

    async def infer_many(self, cwds: Collection[str]) -> dict[str, Status]:
        return {cwd: self.by_cwd[cwd] for cwd in cwds if cwd in self.by_cwd}
