"""One drain at a time per connection, so a connection's pushes keep queue order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class Drains:
    """A wake that arrives while a drain runs makes that drain run once more, instead
    of starting a second one that could overtake it. A drain runs with `claim` (push
    what the session was leased in enqueues, then claim the rest) or without (only the
    former, ADR 0031); a rerun claims when any request it stands for asked to."""

    def __init__(self) -> None:
        # key -> None: no rerun asked; False: rerun without a claim; True: with one
        self._again: dict[str, bool | None] = {}

    async def run(
        self, key: str, drain: Callable[[bool], Awaitable[None]], claim: bool = True
    ) -> None:
        if key in self._again:
            self._again[key] = claim or bool(self._again[key])
            return
        self._again[key] = None
        try:
            while True:
                await drain(claim)
                again = self._again[key]
                if again is None:
                    return
                self._again[key] = None
                claim = again
        finally:
            del self._again[key]

    def __len__(self) -> int:
        return len(self._again)
