#!/usr/bin/env python3
"""What outages cost: the control plane killed mid-run, a node agent killed, ``down --all``.

    .venv/bin/python bench/outage.py                 # 2 s, 15 s and 130 s outages (about 5 minutes)
    .venv/bin/python bench/outage.py --outages 2 15  # shorter

Each case runs in a fresh TRAINFORGE_HOME with the server's default settings (a node
agent silent for 10 s is lost). A one-node cluster runs a script that logs ``i`` = 0..599
and prints ``line i`` every 50 ms (30 s). About 5 s in, the server is killed with SIGKILL
and started again after the outage; the figures say on which attempt the run ended, how
many metric values and log lines were stored of those expected, and how many of them
twice. The node-agent case kills the agent of the node running a run (SIGKILL) on a
two-node cluster: detection is the time until the run is requeued (attempt 2); orphans
are attempt 1's processes (launcher, script) still running once attempt 2 has completed.
The ``down --all`` case times ``trainforge down --all`` while the process that started
the server (this one) lives on, and counts what it leaves running.
This measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_warm_cluster, progress, quiet_call, trainforge_home  # noqa: E402

POINTS = 600
SCRIPT = textwrap.dedent(f"""
    import os, time
    from trainforge.core import Run
    run = Run.get_context()
    print(f"attempt {{os.environ['TRAINFORGE_RUN_ATTEMPT']}} pid {{os.getpid()}}", flush=True)
    for i in range({POINTS}):
        run.log("i", i)
        print(f"line {{i}}", flush=True)
        time.sleep(0.05)
""")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _poll(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _node_log(home: Path, run_id: str, attempt: int = 1) -> str:
    from trainforge.node.work_root import work_root

    # Nodes work in the work root beside the home (never inside it: runs don't see it).
    found = list(
        work_root(home).glob(
            f"workspaces/*/nodes/**/{run_id}.{attempt}/azureml-logs/70_driver_log.txt"
        )
    )
    return found[0].read_text() if found else ""


def _setup(home: Path, max_nodes: int) -> tuple[Any, Any, Any]:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace

    ws = quiet_call(Workspace.create, "outage-ws", exist_ok=True)
    cluster, _ = make_warm_cluster(ws, "outage", 1)
    if max_nodes > 1:
        cluster.update(max_nodes=max_nodes)
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-outage-src-"))
    (source / "train.py").write_text(SCRIPT)
    config = ScriptRunConfig(
        source_directory=str(source), script="train.py", compute_target=cluster
    )
    return ws, Experiment(ws, "outage"), config


def _stored(ws: Any, run: Any) -> dict[str, Any]:
    values = run.get_metrics().get("i", [])
    values = values if isinstance(values, list) else [values]
    log = b"".join(
        ws._client.download(
            f"/workspaces/{ws.name}/runs/{run.id}/files/azureml-logs/70_driver_log.txt"
        )
    ).decode(errors="replace")
    lines = [line for line in log.splitlines() if line.startswith("line ")]
    return {
        "values": len(set(values) & set(range(POINTS))),
        "values_twice": sum(n - 1 for n in Counter(values).values() if n > 1),
        "lines": len(set(lines) & {f"line {i}" for i in range(POINTS)}),
        "lines_twice": sum(n - 1 for n in Counter(lines).values() if n > 1),
    }


def server_outage(seconds: float) -> dict[str, Any]:
    from trainforge.client import local_server
    from trainforge.schemas.server_state import read_state

    with trainforge_home(f"outage{int(seconds)}") as home:
        ws, exp, config = _setup(home, 1)
        run = exp.submit(config)
        _poll(lambda: "line 100" in _node_log(home, run.id), 120, "the script under way")
        state = read_state(home)
        assert state is not None
        progress(f"outage {seconds:.0f} s: killing the server (pid {state.pid})")
        os.kill(state.pid, signal.SIGKILL)
        _poll(lambda: not _running(state.pid), 10, "the server gone")
        time.sleep(seconds)  # the outage itself is what is measured
        progress(f"outage {seconds:.0f} s: starting the server again")
        restarted = time.perf_counter()
        local_server.ensure_server(home)
        details = run.wait_for_completion(raise_on_error=False)
        after = time.perf_counter() - restarted
        info = run._refresh()
        return {
            "case": f"server killed {seconds:.0f} s",
            "status": details["status"],
            "attempt": info.attempt,
            "after_restart_s": after,
            **_stored(ws, run),
        }


def agent_killed() -> dict[str, Any]:
    with trainforge_home("agent-killed") as home:
        ws, exp, config = _setup(home, 2)
        run = exp.submit(config)
        _poll(lambda: "line 40" in _node_log(home, run.id), 120, "the script under way")
        from trainforge.core.compute.compute import computes_api

        (node,) = [n for n in computes_api(ws).nodes("outage") if n.run_id == run.id]
        agent = psutil.Process(node.pid)
        descendants = [p.pid for p in agent.children(recursive=True)]
        progress(f"agent killed: SIGKILL to agent {agent.pid} (its processes: {descendants})")
        killed = time.perf_counter()
        agent.kill()
        _poll(lambda: run._refresh().attempt == 2, 120, "the run requeued")
        detected = time.perf_counter() - killed
        _poll(lambda: not any(_running(p) for p in descendants), 60, "attempt 1 stopped")
        stopped = time.perf_counter() - killed
        details = run.wait_for_completion(raise_on_error=False)
        return {
            "case": "node agent killed",
            "status": details["status"],
            "attempt": run._refresh().attempt,
            "detected_s": detected,
            "attempt1_stopped_s": stopped,
            "orphans": sum(_running(p) for p in descendants),
            **_stored(ws, run),
        }


def down_all() -> dict[str, Any]:
    from trainforge.schemas.server_state import read_state

    with trainforge_home("down") as home:
        _setup(home, 1)  # a server started by this process, which lives on, and a node agent
        state = read_state(home)
        assert state is not None
        server = psutil.Process(state.pid)
        left = [server.pid, *(p.pid for p in server.children(recursive=True))]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", "from trainforge.cli.main import main; main()", "down", "--all"],
            env={**os.environ, "TRAINFORGE_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.perf_counter() - start
        return {
            "case": "down --all, starter alive",
            "status": f"exit {done.returncode}",
            "down_s": took,
            "orphans": sum(_running(p) for p in left),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outages", type=float, nargs="*", default=[2, 15, 130])
    args = parser.parse_args()
    rows = [server_outage(s) for s in args.outages]
    rows.append(agent_killed())
    rows.append(down_all())
    expected = f"/{POINTS}"
    print(
        "| case | status | attempt | metric values stored/expected (twice) "
        "| log lines stored/expected (twice) | detection | orphans | time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        values = f"{row['values']}{expected} ({row['values_twice']})" if "values" in row else "-"
        lines = f"{row['lines']}{expected} ({row['lines_twice']})" if "lines" in row else "-"
        detection = f"{row['detected_s']:.1f} s" if "detected_s" in row else "-"
        orphans = str(row["orphans"]) if "orphans" in row else "-"
        if "after_restart_s" in row:
            took = f"run ended {row['after_restart_s']:.1f} s after the restart"
        elif "attempt1_stopped_s" in row:
            took = f"attempt 1 stopped {row['attempt1_stopped_s']:.1f} s after the kill"
        else:
            took = f"down took {row['down_s']:.2f} s"
        print(
            f"| {row['case']} | {row['status']} | {row.get('attempt', '-')} | {values} "
            f"| {lines} | {detection} | {orphans} | {took} |"
        )


if __name__ == "__main__":
    main()
