"""A small async micro-batcher: work that arrives together runs as one call, in one thread.

Requests put their items in; a single background task waits at most ``max_wait_s`` after
the first item for more (up to ``max_items``), runs ``run(items)`` in its own worker thread
(the model is loaded once and used by one thread at a time) and hands each request its own
results back, in order. An exception in ``run`` fails the requests of that batch only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["MicroBatcher"]


@dataclass
class _Job:
    items: Sequence[Any]
    future: asyncio.Future


class MicroBatcher:
    """Batch ``run(items) -> results`` (one result per item, same order) across callers.

    Parameters
    ----------
    run : callable
        Called in the batcher's worker thread with the items of one or more submissions.
    max_items : int
        Most items per call (a submission larger than this runs alone).
    max_wait_s : float
        Longest wait for more submissions after the first one arrived.
    """

    def __init__(self, run: Callable[[list], Sequence], *, max_items: int = 64, max_wait_s: float = 0.004):
        self.run = run
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self.calls = 0  # how many times ``run`` was called (tests, benchmarks)
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slopscore-encoder")

    async def submit(self, items: Sequence) -> list:
        """The results for ``items``, once their batch has run."""
        if not items:
            return []
        self._start()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(items), future))
        return await future

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._queue = asyncio.Queue()  # bound to this event loop (a new one after a restart)
            self._task = loop.create_task(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        carried: _Job | None = None
        while True:
            jobs = [carried or await self._queue.get()]
            carried = None
            size = len(jobs[0].items)
            deadline = loop.time() + self.max_wait_s
            while size < self.max_items:
                remaining = deadline - loop.time()
                try:
                    job = self._queue.get_nowait() if remaining <= 0 else \
                        await asyncio.wait_for(self._queue.get(), remaining)
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
                if size + len(job.items) > self.max_items:
                    carried = job  # starts the next batch
                    break
                jobs.append(job)
                size += len(job.items)
            await self._run(loop, jobs)

    async def _run(self, loop, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            self.calls += 1
            results = await loop.run_in_executor(self._executor, self.run, items)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            if not job.future.done():  # a caller that gave up (disconnected) is skipped
                job.future.set_result(list(results[start:start + len(job.items)]))
            start += len(job.items)

    async def close(self) -> None:
        """Stop the background task and the worker thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self._task = None
        self._executor.shutdown(wait=False)
