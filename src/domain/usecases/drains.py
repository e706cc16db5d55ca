"""One drain at a time per connection, so a connection's pushes keep queue order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class Drains:
    """A wake that arrives while a drain runs makes that drain run once more,
    instead of starting a second one that could overtake it."""

    def __init__(self) -> None:
        self._again: dict[str, bool] = {}

    async def run(self, key: str, drain: Callable[[], Awaitable[None]]) -> None:
        if key in self._again:
            self._again[key] = True
            return
        self._again[key] = False
        try:
            while True:
                await drain()
                if not self._again[key]:
                    return
                self._again[key] = False
        finally:
            del self._again[key]

    def __len__(self) -> int:
        return len(self._again)
