"""One dedicated worker thread per model: loaded and warmed once, then every call runs there.

A thread, not a process: torch releases the GIL inside its kernels, so the
event loop keeps running during a forward pass; the model is loaded once and
shared, texts and results are not pickled. One worker per model, because torch
already spreads one forward pass over its threads, because one batch in flight
bounds memory, and because a tokenizer is not thread-safe. Two models (Detoxify
and the crisis encoder) get two threads, so a long Detoxify batch never queues
a crisis screen behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ModelThread:
    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    async def start(self, load_and_warm_up: Callable[[], None]) -> None:
        """Create the worker and run ``load_and_warm_up`` in it (a failure leaves nothing running)."""
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        try:
            await asyncio.get_running_loop().run_in_executor(executor, load_and_warm_up)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        self._executor = executor

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        executor = self._executor
        if executor is None:
            raise RuntimeError(f"the {self._name} model thread is not started (or was closed)")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    async def close(self) -> None:
        """Stop the worker; a call already running finishes, queued ones are dropped.

        The shutdown is requested before the first ``await``, so it happens even
        if the task calling ``close()`` is cancelled; the wait for the thread is
        shielded and runs to the end in the background in that case.
        """
        executor, self._executor = self._executor, None
        if executor is None:
            return
        executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.shield(asyncio.to_thread(executor.shutdown, wait=True))
