"""HyperDrive sweeps: trainforge next to Ray Tune on the same trials, and what the policies save.

The trials: a script that reports ``accuracy`` STEPS times, sleeping STEP_S between reports
(2 s of "training"), with a known optimum at x = 0.62. The same N values of x (a fixed
seeded draw) are given to both tools as a grid, N trials, 4 at a time.

- wall time of the whole sweep, trainforge (``HyperDriveConfig`` + ``GridParameterSampling``,
  each trial a child run: a launcher and a fresh Python process on the 'local' target)
  next to Ray Tune (``Tuner`` with ``grid_search`` and ``max_concurrent_trials``, each trial
  a function in a Ray worker process), in the same run;
- per-trial overhead: wall * concurrency / N - the script's own 2 s;
- compute saved: the sum over trials of their running time (trainforge: Running -> ended on
  the server's clock; Ray Tune: ``time_total_s``) with BanditPolicy and ASHAPolicy, against
  no policy, and whether the best result is the same; Ray Tune's ASHAScheduler (same
  rungs) is shown next to trainforge's ASHA. The script logs as users do (no flush): its
  values reach the server in the SDK's 0.5 s batches, so a verdict lands up to ~1 s late.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import Row, progress, quiet_call, trainforge_home

CONCURRENCY = 4
OPTIMUM = 0.62

SCRIPT = """
import argparse, math, time
from trainforge.core import Run

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--steps", type=int, required=True)
p.add_argument("--step_s", type=float, required=True)
args = p.parse_args()
run = Run.get_context()
ceiling = 1 - 2 * (args.x - {optimum}) ** 2
for n in range(1, args.steps + 1):
    time.sleep(args.step_s)
    run.log("accuracy", ceiling * (1 - math.exp(-n / 3)))
"""


def _accuracy(x: float, n: int) -> float:
    return (1 - 2 * (x - OPTIMUM) ** 2) * (1 - math.exp(-n / 3))


def _values(count: int) -> list[float]:
    rng = random.Random(2026)
    return [round(rng.uniform(0, 1), 4) for _ in range(count)]


def _trainforge(
    ws: Any, source: Path, xs: list[float], steps: int, step_s: float, policy: Any
) -> dict[str, Any]:
    from trainforge.core import Experiment, ScriptRunConfig
    from trainforge.train.hyperdrive import (
        GridParameterSampling,
        HyperDriveConfig,
        PrimaryMetricGoal,
        choice,
    )

    config = HyperDriveConfig(
        run_config=ScriptRunConfig(
            source_directory=str(source),
            script="train.py",
            arguments=["--steps", steps, "--step_s", step_s],
        ),
        hyperparameter_sampling=GridParameterSampling({"x": choice(*xs)}),
        policy=policy,
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=len(xs),
        max_concurrent_runs=CONCURRENCY,
    )
    start = time.perf_counter()
    hd = Experiment(ws, "bench-hyperdrive").submit(config)
    status = hd.wait_for_completion()["status"]
    wall = time.perf_counter() - start
    if status != "Completed":
        raise RuntimeError(f"sweep {hd.id} ended {status}")
    sweep = hd._sweep()
    trials = sweep["trials"]
    if len(trials) != len(xs):
        raise RuntimeError(f"sweep {hd.id} ran {len(trials)} trials, not {len(xs)}")
    # Compute used: each trial's Running -> ended time on the server's clock.
    seconds = 0.0
    for trial in trials:
        start, end = trial["start_time_utc"], trial["end_time_utc"]
        if start and end:
            seconds += (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return {
        "wall_s": wall,
        "trial_s": seconds,
        "canceled": sum(1 for t in trials if t["status"] == "Canceled"),
        "best": sweep["best_primary_metric"],
        "best_x": next(t["parameters"]["x"] for t in trials if t["run_id"] == sweep["best_run_id"]),
    }


def _ray(xs: list[float], steps: int, step_s: float, asha: bool) -> dict[str, Any]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    def trainable(config: dict[str, Any]) -> None:
        for n in range(1, steps + 1):
            time.sleep(step_s)
            tune.report({"accuracy": _accuracy(config["x"], n)})

    storage = tempfile.mkdtemp(prefix="tfb-tune-")
    try:
        scheduler = (
            ASHAScheduler(
                time_attr="training_iteration", grace_period=1, reduction_factor=3, max_t=steps
            )
            if asha
            else None
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.grid_search(xs)},
            tune_config=tune.TuneConfig(
                metric="accuracy",
                mode="max",
                max_concurrent_trials=CONCURRENCY,
                scheduler=scheduler,
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        start = time.perf_counter()
        results = quiet_call(tuner.fit)  # Tune prints its own tables on stdout
        wall = time.perf_counter() - start
        frame = results.get_dataframe()
        if len(frame) != len(xs) or results.errors:
            raise RuntimeError(
                f"Ray Tune ran {len(frame)} trials with {len(results.errors)} errors"
            )
        best = results.get_best_result(metric="accuracy", mode="max", scope="all")
        return {
            "wall_s": wall,
            "trial_s": float(frame["time_total_s"].sum()),
            "canceled": int((frame["training_iteration"] < steps).sum()),
            "best": float(best.metrics_dataframe["accuracy"].max()),
            "best_x": best.config["x"],
        }
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def run(quick: bool = False) -> list[Row]:
    from trainforge.core import Workspace
    from trainforge.train.hyperdrive import ASHAPolicy, BanditPolicy

    count, steps, step_s = (12, 10, 0.1) if quick else (64, 10, 0.2)
    script_s = steps * step_s
    xs = _values(count)
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-hd-"))
    (source / "train.py").write_text(textwrap.dedent(SCRIPT.format(optimum=OPTIMUM)))
    policies = {
        "none": None,
        "bandit": BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        "asha": ASHAPolicy(evaluation_interval=1, reduction_factor=3),
    }
    tf: dict[str, dict[str, Any]] = {}
    try:
        with trainforge_home("hyperdrive"):
            ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
            for name, policy in policies.items():
                progress(
                    f"hyperdrive: trainforge, {count} trials x {script_s:.0f} s, policy {name}"
                )
                tf[name] = _trainforge(ws, source, xs, steps, step_s, policy)
    finally:
        shutil.rmtree(source, ignore_errors=True)

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private head on loopback, ours alone
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    progress("hyperdrive: ray.init()")
    ray.init(
        num_cpus=CONCURRENCY,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=200 * 2**20,
    )
    try:
        progress(f"hyperdrive: Ray Tune, {count} trials, no scheduler")
        peer = _ray(xs, steps, step_s, asha=False)
        progress(f"hyperdrive: Ray Tune, {count} trials, ASHAScheduler")
        peer_asha = _ray(xs, steps, step_s, asha=True)
    finally:
        ray.shutdown()

    def overhead(wall: float) -> float:
        return wall * CONCURRENCY / count - script_s

    full = tf["none"]["trial_s"]
    rows = [
        Row(
            f"sweep wall time, {count} trials x {script_s:.0f} s, {CONCURRENCY} at a time",
            tf["none"]["wall_s"],
            peer["wall_s"],
            "s",
            "peer: Ray Tune Tuner(grid_search, max_concurrent_trials); trainforge: HyperDriveConfig, "
            "each trial a child run (launcher + fresh Python process)",
            higher_is_better=False,
            extra={"trainforge": tf, "ray": peer, "ray_asha": peer_asha, "xs": xs},
        ),
        Row(
            "per-trial overhead (wall x concurrency / trials - script time)",
            overhead(tf["none"]["wall_s"]),
            overhead(peer["wall_s"]),
            "s",
            f"script time {script_s:.1f} s",
            higher_is_better=False,
        ),
    ]
    for name, label in (
        ("bandit", "BanditPolicy(slack_factor=0.1, delay 2)"),
        ("asha", "ASHAPolicy(rf=3)"),
    ):
        used = tf[name]["trial_s"]
        same = math.isclose(tf[name]["best"], tf["none"]["best"], rel_tol=1e-9)
        note = (
            f"{tf[name]['canceled']} of {count} trials canceled; best accuracy "
            f"{tf[name]['best']:.4f} vs {tf['none']['best']:.4f} without a policy "
            f"({'equal' if same else 'DIFFERENT'})"
        )
        peer_value = None
        if name == "asha":
            peer_value = 1 - peer_asha["trial_s"] / peer["trial_s"]
            note += (
                f"; peer: Ray Tune ASHAScheduler (grace 1, rf 3): {peer_asha['canceled']} "
                f"stopped, best {peer_asha['best']:.4f}"
            )
        rows.append(
            Row(
                f"compute saved by {label} (trial-seconds vs no policy)",
                1 - used / full,
                peer_value,
                "fraction",
                note,
                error=None if same else "the policy lost the best result",
            )
        )
    return rows
