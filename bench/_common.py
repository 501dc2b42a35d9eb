"""Shared pieces of the benchmarks: result rows, a throw-away TRAINFORGE_HOME, formatting."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# A root server runs scripts as TRAINFORGE_RUN_USER (nobody); an interpreter under /root
# is not theirs to execute, so benchmarks run on such a machine as the node's own user, as
# the test suite does.
if os.geteuid() == 0 and os.path.realpath(sys.executable).startswith("/root/"):
    os.environ.setdefault("TRAINFORGE_RUN_USER", "")


@dataclass
class Row:
    """One line of the table: trainforge next to its peer, ratio = trainforge / peer."""

    benchmark: str
    trainforge: float | None
    peer: float | None
    unit: str
    note: str = ""
    higher_is_better: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    # Set when the row's measurement produced wrong results: run_all.py then exits 1.
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.trainforge is None or not self.peer:
            return None
        return self.trainforge / self.peer

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "values/s":
        return f"{value:,.0f} {unit}"
    if unit == "s":
        if value < 0.001:
            return f"{value * 1e6:.1f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:,.2f} s"
    return f"{value:,.3g} {unit}"


def fmt_ratio(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "-"
    if ratio >= 100:
        text = f"{ratio:,.0f}x"
    elif ratio >= 0.01:
        text = f"{ratio:.2f}x"
    else:
        text = f"{ratio:.2g}x"
    return f"{text} ({'higher' if row.higher_is_better else 'lower'} is better)"


def stop_everything(home: Path) -> list[int]:
    """Stop the server of ``home``, then kill (by pid, never by name) the node agents and
    launchers it started: ``trainforge down --all``. Returns the pids killed after the server."""
    from trainforge.client.local_server import stop_all

    killed = stop_all(home)
    if killed:
        progress(f"killed what the server of {home} left running: pids {killed}")
    return killed


@contextlib.contextmanager
def trainforge_home(prefix: str) -> Iterator[Path]:
    """A fresh TRAINFORGE_HOME for one benchmark; everything its server started is stopped
    (by pid, see ``stop_everything``) at the end.

    The SDK keeps one default session per process, so it is reset on the way in and out:
    each benchmark talks to its own server.
    """
    from trainforge.client import session

    home = Path(tempfile.mkdtemp(prefix=f"trainforge-bench-{prefix}-"))
    previous = os.environ.get("TRAINFORGE_HOME")
    os.environ["TRAINFORGE_HOME"] = str(home)
    session.reset()
    try:
        yield home
    finally:
        try:
            session.reset()
        finally:
            stop_everything(home)
            if previous is None:
                os.environ.pop("TRAINFORGE_HOME", None)
            else:
                os.environ["TRAINFORGE_HOME"] = previous
            if os.environ.get("TRAINFORGE_BENCH_KEEP_HOME"):
                progress(f"kept {home} (TRAINFORGE_BENCH_KEEP_HOME)")
            else:
                shutil.rmtree(home, ignore_errors=True)
                # Node and run folders live beside the home (trainforge.node.work_root).
                shutil.rmtree(home.parent / f"{home.name}-work", ignore_errors=True)


def quiet_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with its stdout swallowed (the SDK prints 'Deployed workspace ...')."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def make_warm_cluster(ws: Any, name: str, nodes: int) -> tuple[Any, float]:
    """A cluster of exactly ``nodes`` nodes, returned once every node is idle (warm)."""
    from trainforge.core.compute import AmlCompute, ComputeTarget

    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2",
        min_nodes=nodes,
        max_nodes=nodes,
        idle_seconds_before_scaledown=600,
    )
    start = time.perf_counter()
    cluster = ComputeTarget.create(ws, name, config)
    cluster.wait_for_completion(min_node_count=nodes, timeout_in_minutes=2)
    deadline = time.monotonic() + 120
    while True:
        states = [node["nodeState"] for node in cluster.list_nodes()]
        if len(states) == nodes and all(state == "idle" for state in states):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"cluster {name}: nodes not idle after 2 minutes: {states}")
        time.sleep(0.1)
    return cluster, time.perf_counter() - start
