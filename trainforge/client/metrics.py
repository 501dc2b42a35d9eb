"""Metric points sent in batches from a background thread, so ``run.log`` never blocks training."""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from trainforge.client.api.runs import RunsApi
from trainforge.client.http import ApiError, TrainforgeClient
from trainforge.schemas.runs import BatchResult

log = logging.getLogger("trainforge.metrics")
MAX_BATCH = 10_000
# A run as the sender knows it: (workspace name, run id).
RunKey = tuple[str, str]
EXIT_FLUSH_TIMEOUT_S = 60.0


class _Marker:
    """Put in the queue by ``flush``: set once everything before it is stored."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class MetricsSender:
    """Queues points per run and posts them as idempotent batches.

    ``log`` only appends to a deque. A sender thread wakes every ``interval`` seconds
    (or when ``flush`` asks), posts what has queued up, and retries a failed batch with
    the same batch id, so the server stores each point once.

    A HyperDrive trial's primary metric goes out as soon as it is logged (the server names
    it in its first answer), and the answer carries the policy's verdict: canceled, the
    process of the submitted run stops at once, as a canceled Azure ML run's does.
    """

    def __init__(
        self,
        client: TrainforgeClient,
        interval: float = 0.5,
        exit_flush_timeout: float | None = EXIT_FLUSH_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.interval = interval
        # How long a process that exits waits for its points to be stored (None: for as
        # long as the server is away, as inside a submitted run, whose end waits anyway).
        self.exit_flush_timeout = exit_flush_timeout
        self._queue: deque[tuple[Any, ...] | _Marker] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        # The attempt of each run this process logs for (set inside submitted runs).
        self.attempts: dict[RunKey, int] = {}
        # The submitted run this process is (its process stops on a policy's verdict).
        self.context_run: RunKey | None = None
        # Per run, the metric a policy judges it by: sent without waiting for the timer.
        self._judged: dict[RunKey, str] = {}
        # What a verdict on the context run does (replaced in tests of the sender).
        self.stop: Callable[[str], None] = stop_process
        self._stopped = False
        atexit.register(_flush_at_exit, weakref.ref(self))

    def log(
        self, run: RunKey, name: str, kind: str, value: Any, step: int | None, description: str
    ) -> None:
        """Queue a point of the run ``(workspace, run id)``."""
        self._queue.append((run, name, kind, value, step, description, time.time()))
        if self._thread is None:
            self._start()
        elif self._judged.get(run) == name:
            self._wake.set()

    def flush(self, timeout: float | None = 300.0) -> bool:
        """Wait until every point logged so far is stored; False if that took too long."""
        if self._thread is None and not self._queue:
            return True
        marker = _Marker()
        self._queue.append(marker)
        if self._thread is None:
            self._start()
        self._wake.set()
        return marker.done.wait(timeout)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                # The first points go out at once: the answer says which metric is judged.
                self._wake.set()
                self._thread = threading.Thread(
                    target=self._loop, name="trainforge-metrics", daemon=True
                )
                self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Store what is queued, then stop the sender thread."""
        self.flush(timeout)
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        pending: dict[RunKey, list[dict[str, Any]]] = {}
        markers: list[_Marker] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _Marker):
                markers.append(item)
                break
            run_key, name, kind, value, step, description, at = item
            pending.setdefault(run_key, []).append(
                {
                    "name": name,
                    "kind": kind,
                    "value": value,
                    "step": step,
                    "description": description,
                    "time": at,
                }
            )
        for run_key, points in pending.items():
            for start in range(0, len(points), MAX_BATCH):
                self._send(run_key, points[start : start + MAX_BATCH])
        for marker in markers:
            marker.done.set()
        if self._queue:
            self._wake.set()

    def _send(self, run_key: RunKey, points: list[dict[str, Any]]) -> None:
        # json.dumps keeps NaN and infinities (a diverging loss is worth recording);
        # httpx's own encoder would refuse them.
        batch: dict[str, Any] = {"batch_id": uuid.uuid4().hex, "points": points}
        if run_key in self.attempts:
            batch["attempt"] = self.attempts[run_key]
        body = json.dumps(batch).encode()

        # The same batch id on every try (the client's persistent policy: a 5xx or a lost
        # server is tried again for ever), so the server stores the points once.
        workspace, run_id = run_key
        try:
            result = RunsApi(self.client, workspace).post_metrics(run_id, body)
        except ApiError as exc:
            # The server will never take this batch (e.g. a superseded attempt or a run
            # that has ended); keep training, say why once.
            log.warning("trainforge dropped %d metric points: %s", len(points), exc.message)
            return
        self._heed(run_key, result)

    def _heed(self, run_key: RunKey, result: BatchResult) -> None:
        if result.judged_metric is not None:
            self._judged[run_key] = result.judged_metric
        if result.verdict is not None and run_key == self.context_run and not self._stopped:
            self._stopped = True
            self.stop(result.verdict.reason)


def stop_process(reason: str) -> None:
    """End this process as a canceled run's: SIGTERM (what the node sends a canceled run,
    so a script's own handler, e.g. one that saves a checkpoint, still runs)."""
    print(f"trainforge: the run was canceled: {reason}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)


def _flush_at_exit(ref: weakref.ref[MetricsSender]) -> None:
    sender = ref()
    if sender is not None and not sender.flush(sender.exit_flush_timeout):
        log.warning("trainforge could not store every metric before exit (server unreachable)")
