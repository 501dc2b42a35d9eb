"""Wake long-polling requests the moment a run changes, instead of having them poll the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

# A waiter re-checks at least this often, so a missed wake-up costs latency, not a hang.
MAX_SLICE_S = 2.0


class RunEvents:
    """Run ids that changed, announced from any thread to requests waiting on the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        # Touched only on the event loop's thread.
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self, run_ids: Iterable[str]) -> None:
        """Thread-safe: wake every request waiting on one of ``run_ids``."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, list(run_ids))

    def _wake(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            for event in self._waiters.get(run_id, ()):
                event.set()

    async def wait(self, run_id: str, timeout: float) -> None:
        """Return when ``run_id`` changes or ``timeout`` (at most MAX_SLICE_S) passes."""
        event = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(event)
        try:
            await asyncio.wait_for(event.wait(), min(max(timeout, 0.0), MAX_SLICE_S))
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[run_id]
