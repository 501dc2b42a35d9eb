"""A control-plane loop on its own thread: a pass every interval, or at once when woken."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("trainforge.server")


class WakeLoop:
    """Calls ``tick()`` every ``interval_s`` seconds, or as soon as ``wake()`` is called;
    one failed pass is logged and the loop goes on."""

    thread_name = "trainforge-loop"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def start_loop(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """Run a pass now instead of at the next interval."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("%s: a pass failed", self.thread_name)
