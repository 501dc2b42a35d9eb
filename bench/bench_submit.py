"""Submit-to-complete latency of a trivial script on the 'local' target.

trainforge: time from ``exp.submit(ScriptRunConfig(...))`` until ``wait_for_completion()``
returns, median of the repeats after one warm-up. Peer: the same script run as
``python train.py`` with subprocess (same interpreter), median of the same number of repeats
after one warm-up. The first SDK call on a fresh TRAINFORGE_HOME starts the control-plane
server; that is timed on its own and kept out of the latency.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, progress, quiet_call, timed, trainforge_home

SCRIPT = 'print("hello")\n'


def _subprocess_times(source: Path, repeats: int) -> list[float]:
    times = []
    for i in range(repeats + 1):  # the first one is the warm-up
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "train.py"], cwd=source, capture_output=True, text=True, check=True
        )
        elapsed = time.perf_counter() - start
        if done.stdout.strip() != "hello":
            raise RuntimeError(f"the script printed {done.stdout!r}")
        if i:
            times.append(elapsed)
    return times


def _spread(times: list[float]) -> str:
    return f"min {min(times):.3f} / max {max(times):.3f} s"


def run(quick: bool = False) -> list[Row]:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace

    repeats = 3 if quick else 5
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-src-"))
    try:
        (source / "train.py").write_text(SCRIPT)
        with trainforge_home("submit"):
            progress("submit: first SDK call (starts the server)")
            server_start_s, ws = timed(quiet_call, Workspace.create, "bench-ws", exist_ok=True)
            exp = Experiment(ws, "bench")
            config = ScriptRunConfig(source_directory=str(source), script="train.py")
            submit_times, total_times, queued, running = [], [], [], []
            for i in range(repeats + 1):  # the first one is the warm-up
                progress(f"submit: run {i + 1}/{repeats + 1}" + (" (warm-up)" if i == 0 else ""))
                start = time.perf_counter()
                run_ = exp.submit(config)
                submitted = time.perf_counter()
                run_.wait_for_completion()
                done = time.perf_counter()
                status = run_.get_status()
                if status != "Completed":
                    raise RuntimeError(f"run {run_.id} ended {status}")
                if i:
                    submit_times.append(submitted - start)
                    total_times.append(done - start)
                    info = run_._info  # the server's timestamps, for the breakdown in the note
                    if info.start_time_utc and info.end_time_utc:
                        queued.append((info.start_time_utc - info.created_utc).total_seconds())
                        running.append((info.end_time_utc - info.start_time_utc).total_seconds())
        progress(f"subprocess: python train.py x {repeats + 1}")
        direct = _subprocess_times(source, repeats)
    finally:
        shutil.rmtree(source, ignore_errors=True)

    tf_median = statistics.median(total_times)
    direct_median = statistics.median(direct)
    return [
        Row(
            f"submit -> complete, trivial script (median of {repeats})",
            tf_median,
            direct_median,
            "s",
            f"peer: python train.py via subprocess; tf {_spread(total_times)}; "
            f"submit() returns in {statistics.median(submit_times) * 1e3:.0f} ms"
            + (
                f"; server clock: created->Running {statistics.median(queued) * 1e3:.0f} ms, "
                f"Running->ended {statistics.median(running) * 1e3:.0f} ms"
                if queued
                else ""
            )
            + "; 1 warm-up each",
            higher_is_better=False,
            extra={
                "trainforge_s": total_times,
                "submit_s": submit_times,
                "created_to_running_s": queued,
                "running_to_end_s": running,
                "subprocess_s": direct,
            },
        ),
        Row(
            "first call starts server",
            server_start_s,
            None,
            "s",
            "Workspace.create on a fresh TRAINFORGE_HOME; not in the latency above",
            higher_is_better=False,
        ),
    ]
