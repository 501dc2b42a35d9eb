#!/usr/bin/env python3
"""Where a trivial run's time goes on a warm local cluster (issue 20's profile table).

    .venv/bin/python bench/profile_dispatch.py 1 8      # 1 node, 8 runs one after the other
    .venv/bin/python bench/profile_dispatch.py 4 100    # 4 nodes, 100 runs submitted at once

Measures, it never asserts. Each run's life is taken from three clocks of this machine:
the server's run timestamps (created, Running, ended), the node agent's log ("starting
assignment ... of run X", written just before it forks the launcher) and the launcher's
log, where httpx writes one INFO line as each request's answer arrives. It prints the
median of each phase, the time a node stood idle between two runs (the k-th fork after
the (k - nodes)-th final report), and the CPU each process spent per run (the server's,
the agents' own, the agents' children: launchers and scripts, and this process's).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from _common import make_warm_cluster, quiet_call, trainforge_home

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")


def _lines(path: str) -> list[tuple[float, str]]:
    found = []
    for line in open(path, errors="replace"):
        match = STAMP.match(line)
        if match:
            when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((when, match.group(2)))
    return found


def _cpu(pids: dict[str, int]) -> dict[str, tuple[float, float, float]]:
    """Each process's CPU seconds: its own, its children's, and of its own the kernel's."""
    out = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        out[name] = (
            times.user + times.system,
            times.children_user + times.children_system,
            times.system,
        )
    return out


def _median_ms(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) * 1e3 if kept else float("nan")


def main(nodes: int, count: int) -> None:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace

    source = Path(tempfile.mkdtemp(prefix="trainforge-profile-src-"))
    (source / "train.py").write_text('print("hello")\n')
    print("load before:", os.getloadavg())
    with trainforge_home("profile") as home:
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        exp = Experiment(ws, "profile")
        cluster, _ = make_warm_cluster(ws, "profile", nodes)
        config = ScriptRunConfig(
            source_directory=str(source), script="train.py", compute_target=cluster
        )
        exp.submit(config).wait_for_completion()  # the snapshot is uploaded once
        db = sqlite3.connect(home / "trainforge.db")
        pids = {
            "server": json.loads((home / "server.json").read_text())["pid"],
            "client": os.getpid(),
        }
        for i, (pid,) in enumerate(db.execute("select pid from nodes")):
            pids[f"agent{i}"] = pid
        cpu_before = _cpu(pids)
        started = time.time()
        runs: list[Any] = []
        submitted: list[float] = []
        seen: dict[str, float] = {}
        for _ in range(count):
            submitted.append(time.time())
            runs.append(exp.submit(config))
            if nodes == 1:  # one after the other: the latency of each
                runs[-1].wait_for_completion()
                seen[runs[-1].id] = time.time()
        for run in runs:
            run.wait_for_completion()
            seen.setdefault(run.id, time.time())
        time.sleep(0.5)  # the agents reap their last launchers
        cpu_after = _cpu(pids)
        work = home.parent / f"{home.name}-work"
        launcher_logs = {
            Path(p).parent.name.rsplit(".", 1)[0]: _lines(p)
            for p in glob.glob(str(work / "**" / "launcher.log"), recursive=True)
        }
        agent_lines = [
            line
            for p in glob.glob(str(work / "**" / "agent.log"), recursive=True)
            for line in _lines(p)
        ]
    phases: dict[str, list[float | None]] = {
        name: []
        for name in (
            "submit() -> created",
            "created -> agent forks the launcher",
            "fork -> GET run answered",
            "GET run -> GET workspace answered",
            "GET workspace -> PATCH running answered",
            "PATCH running -> driver log POST answered",
            "log POST -> final PATCH answered",
            "server's end -> wait_for_completion returned",
        )
    }
    forks, finals = [], []
    for run, asked in zip(runs, submitted, strict=True):
        info = run._info
        created, running, ended = (
            t.timestamp() for t in (info.created_utc, info.start_time_utc, info.end_time_utc)
        )
        fork = next((t for t, m in agent_lines if f"of run {run.id}" in m), None)
        requests = [
            (t, m.split()[4:6]) for t, m in launcher_logs.get(run.id, []) if "HTTP Request:" in m
        ]
        first = requests[0][0] if requests else None
        workspace = next(
            (t for t, (_, url) in requests if url.endswith("/workspaces/bench-ws")), None
        )
        patches = [t for t, (method, _) in requests if method == "PATCH"]
        log_post = next(
            (t for t, (method, url) in requests if method == "POST" and "/files/" in url), None
        )
        values = list(phases.values())
        values[0].append(created - asked)
        values[1].append(fork - created if fork else None)
        values[2].append(first - fork if first and fork else None)
        values[3].append(workspace - first if workspace and first else None)
        values[4].append(patches[0] - workspace if patches and workspace else None)
        values[5].append(log_post - patches[0] if log_post and patches else None)
        values[6].append(patches[-1] - log_post if log_post and patches else None)
        values[7].append(seen[run.id] - ended)
        if fork:
            forks.append(fork)
        if patches:
            finals.append(patches[-1])
        phases.setdefault("created -> Running (server)", []).append(running - created)
        phases.setdefault("Running -> ended (server)", []).append(ended - running)
    forks.sort()
    finals.sort()
    gaps: list[float | None] = [forks[k] - finals[k - nodes] for k in range(nodes, len(forks))]
    phases["node idle: final PATCH -> next fork"] = gaps
    last_end = max(r._info.end_time_utc.timestamp() for r in runs)
    print(
        f"{nodes} node(s), {count} runs: {count / (last_end - started):.2f} runs/s (server's clock)"
    )
    for name, values in phases.items():
        kept = [v for v in values if v is not None]
        worst = f"max {max(kept) * 1e3:7.0f} ms" if kept else ""
        print(f"  {name:45s} p50 {_median_ms(values):7.0f} ms  {worst}")
    totals: dict[str, list[float]] = {}
    for name in pids:
        group = "agents" if name.startswith("agent") else name
        totals.setdefault(group, [0.0, 0.0, 0.0])
        for i in range(3):
            totals[group][i] += cpu_after[name][i] - cpu_before[name][i]
    for group, (own, children, kernel) in totals.items():
        print(
            f"  CPU {group:8s} {own / count * 1e3:6.1f} ms/run (kernel {kernel / count * 1e3:5.1f});"
            f" its children {children / count * 1e3:6.1f} ms/run"
        )
    launcher_requests = sum(
        1 for lines in launcher_logs.values() for _, m in lines if "HTTP Request:" in m
    )
    agent_requests = sum(1 for _, m in agent_lines if "HTTP Request:" in m)
    print(
        f"  requests per run: launchers {launcher_requests / count:.1f}, agents "
        f"{agent_requests / count:.1f} (the SDK's are not logged)"
    )
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1, int(sys.argv[2]) if len(sys.argv) > 2 else 8)
