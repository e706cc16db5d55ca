"""Group commit: calls that arrive while a statement is in flight share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from domain.errors import DomainError, InvalidInput, StoreUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """`submit` waits for the statement that carries its item. One statement is in
    flight at a time; the next takes everything that queued meanwhile (up to
    `max_batch`), so under load many calls share one round trip and one commit."""

    def __init__(
        self, flush: Callable[[list[Item]], Awaitable[list[Result]]], max_batch: int = 512
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._run())
        return await done

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._send(batch)
        finally:
            self._flusher = None

    async def _send(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except InvalidInput as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            # An item the store cannot hold must not refuse its neighbours: each goes
            # alone, in the same order.
            for pair in batch:
                await self._send([pair])
            return
        except DomainError as exc:
            _settle(batch, exc)
            return
        except BaseException as exc:
            _settle(batch, StoreUnavailable(f"statement interrupted: {exc!r}"))
            raise
        for (_, done), result in zip(batch, results, strict=True):
            if not done.done():  # a caller that went away keeps no result
                done.set_result(result)


def _settle(batch: list[tuple[Item, asyncio.Future[Result]]], error: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(error)
