"""2-process PyTorch DDP training (gloo, CPU) through trainforge and through torchrun.

The same training script (``SCRIPT`` below: an MLP on synthetic data, gloo over
``env://``, one thread per process) is run

  (a) through trainforge on the ``local`` target: ``ScriptRunConfig(...,
      distributed_job_config=PyTorchConfiguration(communication_backend="Gloo",
      process_count=2))``, submit -> ``wait_for_completion()``;
  (b) through trainforge on a warm 2-node AmlCompute cluster of the local backend:
      ``trainforge.train.dnn.PyTorch(..., node_count=2, distributed_backend="gloo")``;
  (c) directly: ``torchrun --standalone --nproc_per_node=2 train.py``, the peer.

Wall time per launch (median after one warm-up), and the script's own account of where
the time went: its training loop (``TRAIN_SECONDS``) is read from rank 0's driver log
(trainforge) or from torchrun's stdout, so wall minus training = the launch overhead.
Every launch is checked: every rank ends with bit-identical parameters (all_gather in
the script), both ranks report world size 2 and one thread, the loss went down, and the
final parameters are bit-identical to torchrun's (same seeds, same data, same reduction
order); on trainforge the loss curve logged from rank 0 must be stored in full. A launch
that fails any check turns its rows into FAILED rows. See bench/README.md.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _common import Row, make_warm_cluster, progress, quiet_call, timed, trainforge_home

WORLD = 2
LOG_EVERY = 25  # rank 0 logs the loss every LOG_EVERY steps (Run.get_context().log)
RUN_LIMIT_S = 180  # a hung rendezvous must not hang the benchmark

SCRIPT = r'''"""bench_ddp's workload: DDP (gloo, env://) training of an MLP on synthetic data."""
import argparse
import hashlib
import os
import sys
import time

T0 = time.perf_counter()
START_WALL = time.time()  # the script's first line: the interpreter is up
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from trainforge.core import Run  # noqa: E402

IMPORTS_S = time.perf_counter() - T0
RANK = os.environ.get("RANK", "?")


def say(line):
    # One write per line: both ranks share torchrun's stdout.
    sys.stdout.write(f"{line} rank={RANK}\n")
    sys.stdout.flush()


parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--log-every", type=int, default=25)
args = parser.parse_args()

t = time.perf_counter()
dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
rank, world = dist.get_rank(), dist.get_world_size()
INIT_S = time.perf_counter() - t
say(
    f"DDP_ENV world={world} local_rank={os.environ.get('LOCAL_RANK')} "
    f"master={os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} "
    f"threads={torch.get_num_threads()} omp={os.environ.get('OMP_NUM_THREADS')}"
)
t = time.perf_counter()
run = Run.get_context()

torch.manual_seed(0)  # the same initial parameters on every rank (DDP broadcasts them too)
model = torch.nn.Sequential(
    torch.nn.Linear(256, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 10),
)
ddp = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
teacher = torch.randn(256, 10, generator=torch.Generator().manual_seed(7))
data = torch.Generator().manual_seed(1000 + rank)  # each rank its own batches

dist.barrier()
SETUP_S = time.perf_counter() - t  # model, DDP wrapper (broadcasts the parameters), barrier
t = time.perf_counter()
first = last = None
for step in range(args.steps):
    x = torch.randn(128, 256, generator=data)
    y = (x @ teacher).argmax(1)
    loss = torch.nn.functional.cross_entropy(ddp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % args.log_every == 0 or step == args.steps - 1:
        value = loss.item()
        first = value if first is None else first
        last = value
        if rank == 0:
            run.log("loss", value, step=step)
dist.barrier()
TRAIN_S = time.perf_counter() - t
say(f"TRAIN_SECONDS {TRAIN_S:.3f}")

t = time.perf_counter()
flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
gathered = [torch.empty_like(flat) for _ in range(world)]
dist.all_gather(gathered, flat)
same = all(torch.equal(g, flat) for g in gathered)
diff = max((g - flat).abs().max().item() for g in gathered)
digest = hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16]
CHECK_S = time.perf_counter() - t
say(f"PARAMS_IDENTICAL {'yes' if same else 'NO'} max_abs_diff={diff:.3g} sha256={digest} n={flat.numel()}")
say(f"LOSS first={first:.4f} last={last:.4f}")
t = time.perf_counter()
del ddp, opt, loss  # a DDP module alive at exit can abort the process (examples/quickstart/train.py)
__import__("gc").collect()
dist.destroy_process_group()
DESTROY_S = time.perf_counter() - t
say(
    f"DDP_TIMES imports={IMPORTS_S:.3f} init={INIT_S:.3f} setup={SETUP_S:.3f} train={TRAIN_S:.3f} "
    f"check={CHECK_S:.3f} destroy={DESTROY_S:.3f} "
    f"start_wall={START_WALL:.3f} end_wall={time.time():.3f}"
)
'''


# -- parsing and checking what the script printed ----------------------------------------
# Searched, not anchored: on torchrun's shared stdout another rank's line may precede it.
_LINE = re.compile(r"(DDP_ENV|TRAIN_SECONDS|PARAMS_IDENTICAL|LOSS|DDP_TIMES) (.*) rank=(\d+)$")


def logged_steps(steps: int) -> list[int]:
    """The steps at which rank 0 logs the loss (as the script decides)."""
    return [s for s in range(steps) if s % LOG_EVERY == 0 or s == steps - 1]


def parse(text: str) -> dict[int, dict[str, str]]:
    """{rank: {tag: rest of the line}} from the script's tagged lines."""
    ranks: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        match = _LINE.search(line.strip())
        if match:
            ranks.setdefault(int(match.group(3)), {})[match.group(1)] = match.group(2)
    return ranks


def _fields(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def check(
    ranks: dict[int, dict[str, str]], reference: str | None
) -> tuple[dict[str, Any], list[str]]:
    """What rank 0 reported, and every problem found (empty: the launch is correct)."""
    problems: list[str] = []
    if sorted(ranks) != list(range(WORLD)):
        return {}, [f"expected output of ranks 0..{WORLD - 1}, got ranks {sorted(ranks)}"]
    tags = ("DDP_ENV", "TRAIN_SECONDS", "PARAMS_IDENTICAL", "LOSS", "DDP_TIMES")
    for rank, lines in ranks.items():
        missing = [tag for tag in tags if tag not in lines]
        if missing:
            problems.append(f"rank {rank} did not print {', '.join(missing)}")
    if problems:
        return {}, problems
    digests = set()
    for rank, lines in ranks.items():
        env = _fields(lines["DDP_ENV"])
        if env.get("world") != str(WORLD):
            problems.append(f"rank {rank}: world size {env.get('world')}, not {WORLD}")
        if env.get("threads") != "1":
            problems.append(f"rank {rank}: {env.get('threads')} torch threads, not 1")
        params = lines["PARAMS_IDENTICAL"]
        if not params.startswith("yes"):
            problems.append(f"rank {rank}: parameters differ across ranks ({params})")
        digests.add(_fields(params).get("sha256"))
    if len(digests) != 1:
        problems.append(f"the ranks report different parameter digests {sorted(digests)}")
    loss = _fields(ranks[0]["LOSS"])
    if not float(loss["last"]) < float(loss["first"]):
        problems.append(f"the loss did not go down ({ranks[0]['LOSS']})")
    digest = next(iter(digests))
    if reference is not None and digest != reference:
        problems.append(f"final parameters {digest} differ from torchrun's {reference}")
    times = {k: float(v) for k, v in _fields(ranks[0]["DDP_TIMES"]).items()}
    walls = [_fields(lines["DDP_TIMES"]) for lines in ranks.values()]
    return {
        # time.time() of the first rank's first script line and of the last rank's end
        "script_start_wall": min(float(w["start_wall"]) for w in walls),
        "script_end_wall": max(float(w["end_wall"]) for w in walls),
        "train_s": float(ranks[0]["TRAIN_SECONDS"]),
        "imports_s": times["imports"],
        "init_s": times["init"],
        "setup_s": times["setup"],
        "check_s": times["check"],
        "destroy_s": times["destroy"],
        "digest": digest,
        "loss_first": float(loss["first"]),
        "loss_last": float(loss["last"]),
    }, problems


class LaunchFailed(Exception):
    """A launch ended badly or produced wrong results."""


# -- (c) torchrun ----------------------------------------------------------------------
def _torchrun_env() -> dict[str, str]:
    # Outside any run: Run.get_context() must be the offline run.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZUREML_", "TRAINFORGE_", "MASTER_", "RANK", "WORLD_SIZE"))
    } | {"OMP_NUM_THREADS": "1"}


def torchrun_once(source: Path, steps: int, reference: str | None) -> dict[str, Any]:
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    command = [
        torchrun, "--standalone", f"--nproc_per_node={WORLD}",
        "train.py", "--steps", str(steps), "--log-every", str(LOG_EVERY),
    ]  # fmt: skip
    start_wall = time.time()
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=source,
            env=_torchrun_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise LaunchFailed(f"torchrun did not end within {RUN_LIMIT_S} s") from exc
    wall = time.perf_counter() - start
    end_wall = time.time()
    if done.returncode != 0:
        progress(f"torchrun output:\n{(done.stdout + done.stderr)[-3000:]}")
        raise LaunchFailed(f"torchrun exited {done.returncode}")
    result, problems = check(parse(done.stdout), reference)
    if problems:
        progress(f"torchrun output:\n{(done.stdout + done.stderr)[-3000:]}")
        raise LaunchFailed("; ".join(problems))
    if done.stdout.count("Attempted to log scalar metric loss") != len(logged_steps(steps)):
        raise LaunchFailed("the offline run did not print every logged loss")
    return {**result, **_before_after(result, start_wall, end_wall), "wall_s": wall}


def _before_after(result: dict[str, Any], start_wall: float, end_wall: float) -> dict[str, float]:
    """Launch -> the first rank's script running; the last rank's script done -> returned."""
    return {
        "before_script_s": result["script_start_wall"] - start_wall,
        "after_script_s": end_wall - result["script_end_wall"],
    }


# -- (a), (b) trainforge -----------------------------------------------------------------
def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def tf_once(exp: Any, config: Any, steps: int, reference: str | None) -> dict[str, Any]:
    start_wall = time.time()
    start = time.perf_counter()
    run_ = exp.submit(config)
    submitted = time.perf_counter()
    details = run_.wait_for_completion(raise_on_error=False)
    wall = time.perf_counter() - start
    done_wall = time.time()
    logs = run_.get_details_with_logs()["logFiles"]
    text = "\n".join(
        logs.get(f"azureml-logs/70_driver_log_{rank}.txt", "") for rank in range(WORLD)
    )
    if details["status"] != "Completed":
        progress(f"run {run_.id} logs:\n{text[-3000:]}")
        error = (details.get("error") or {}).get("message", "")
        raise LaunchFailed(f"run {run_.id} ended {details['status']}: {error[:300]}")
    if "azureml-logs/70_driver_log_0.txt" not in logs:
        raise LaunchFailed(f"run {run_.id}: no driver log of rank 0 (log files: {sorted(logs)})")
    result, problems = check(parse(text), reference)
    expected = logged_steps(steps)
    stored = run_.get_metrics().get("loss")
    stored = stored if isinstance(stored, list) else [stored]
    if len(stored) != len(expected):
        problems.append(f"{len(stored)} loss values stored, rank 0 logged {len(expected)}")
    elif result and abs(stored[0] - result["loss_first"]) > 1e-3:
        problems.append(f"stored loss {stored[0]} is not the logged {result['loss_first']}")
    if problems:
        progress(f"run {run_.id} logs:\n{text[-3000:]}")
        raise LaunchFailed(f"run {run_.id}: " + "; ".join(problems))
    info = run_._info  # the server's timestamps
    created, started, ended = (
        _ts(info.created_utc),
        _ts(info.start_time_utc),
        _ts(info.end_time_utc),
    )
    if created and started and ended:
        result.update(
            created_to_running_s=started - created,
            running_to_end_s=ended - started,
            end_to_client_s=done_wall - ended,
        )
    return {
        **result,
        **_before_after(result, start_wall, done_wall),
        "wall_s": wall,
        "submit_s": submitted - start,
        "loss_values": len(stored),
    }


def _repeat(label: str, once: Any, repeats: int) -> dict[str, Any]:
    """One warm-up, then ``repeats`` timed launches; {'runs': [...]} or {'error': ...}."""
    runs: list[dict[str, Any]] = []
    try:
        for i in range(repeats + 1):
            result = once()
            progress(
                f"ddp: {label} {i + 1}/{repeats + 1}{' (warm-up)' if i == 0 else ''}: "
                f"wall {result['wall_s']:.2f} s, training loop {result['train_s']:.2f} s"
            )
            if i:
                runs.append(result)
    except LaunchFailed as exc:
        progress(f"ddp: {label} FAILED: {exc}")
        return {"error": str(exc), "runs": runs}
    return {"runs": runs}


def _trainforge(source: Path, steps: int, repeats: int, reference: str | None) -> dict[str, Any]:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace
    from trainforge.core.runconfig import PyTorchConfiguration
    from trainforge.train.dnn import PyTorch

    out: dict[str, Any] = {}
    arguments = ["--steps", str(steps), "--log-every", str(LOG_EVERY)]
    with trainforge_home("ddp"):
        progress("ddp: first SDK call (starts the server)")
        out["server_start_s"], ws = timed(quiet_call, Workspace.create, "bench-ws", exist_ok=True)
        exp = Experiment(ws, "bench-ddp")

        local = ScriptRunConfig(
            source_directory=str(source),
            script="train.py",
            arguments=arguments,
            distributed_job_config=PyTorchConfiguration(
                communication_backend="Gloo", process_count=WORLD
            ),
            max_run_duration_seconds=RUN_LIMIT_S,
        )
        # The launcher sets OMP_NUM_THREADS=1 itself when a node runs several processes
        # (as torchrun does); said here as well, so all three launches match by construction.
        local.run_config.environment_variables["OMP_NUM_THREADS"] = "1"
        out["local"] = _repeat(
            "local target", lambda: tf_once(exp, local, steps, reference), repeats
        )

        progress(f"ddp: creating a {WORLD}-node cluster, waiting until its nodes are idle")
        cluster, out["cluster_warm_s"] = make_warm_cluster(ws, "benchddp", WORLD)
        try:
            estimator = PyTorch(
                str(source),
                compute_target=cluster,
                entry_script="train.py",
                script_params={"--steps": steps, "--log-every": LOG_EVERY},
                node_count=WORLD,
                distributed_backend="gloo",
                # One process per node: the launcher leaves OMP_NUM_THREADS alone there.
                environment_variables={"OMP_NUM_THREADS": "1"},
                max_run_duration_seconds=RUN_LIMIT_S,
            )
            out["cluster"] = _repeat(
                "2-node cluster", lambda: tf_once(exp, estimator, steps, reference), repeats
            )
        finally:
            try:
                cluster.delete()
                cluster.wait_for_completion(is_delete_operation=True, timeout_in_minutes=1)
            except Exception as exc:  # stop_everything() still kills its agents by pid
                progress(f"ddp: cluster delete did not finish cleanly: {exc}")
    return out


# -- the rows ----------------------------------------------------------------------------
def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _raw(runs: list[dict[str, Any]], key: str) -> str:
    return "/".join(f"{run[key]:.2f}" for run in runs)


def _inside(runs: list[dict[str, Any]]) -> str:
    return (
        f"launch -> first rank's script running {_med(runs, 'before_script_s'):.2f} s, "
        f"last rank's script done -> returned {_med(runs, 'after_script_s'):.2f} s; "
        f"in the script (rank 0, medians): imports {_med(runs, 'imports_s'):.2f} s, "
        f"init_process_group {_med(runs, 'init_s'):.2f} s, model+DDP setup {_med(runs, 'setup_s'):.2f} s, "
        f"training loop {_med(runs, 'train_s'):.2f} s, param check {_med(runs, 'check_s') * 1e3:.0f} ms, "
        f"destroy_process_group {_med(runs, 'destroy_s') * 1e3:.0f} ms"
    )


def _server(runs: list[dict[str, Any]]) -> str:
    if not all("created_to_running_s" in run for run in runs):
        return f"submit() returns in {_med(runs, 'submit_s') * 1e3:.0f} ms"
    return (
        f"submit() returns in {_med(runs, 'submit_s') * 1e3:.0f} ms; server clock: "
        f"created->Running {_med(runs, 'created_to_running_s'):.2f} s, "
        f"Running->ended {_med(runs, 'running_to_end_s'):.2f} s, "
        f"ended->wait returned {_med(runs, 'end_to_client_s') * 1e3:.0f} ms"
    )


def _rows_for(
    label: str, how: str, case: dict[str, Any], peer: dict[str, Any], repeats: int
) -> list[Row]:
    name = f"DDP {WORLD} ranks, {label}: submit -> complete vs torchrun (median of {repeats})"
    if "error" in case or "error" in peer:
        why = case.get("error") or f"torchrun (the reference) failed: {peer['error']}"
        return [Row(f"{name}: FAILED", None, None, "s", why, False, error=why)]
    runs, ref = case["runs"], peer["runs"]
    for run in runs:
        run["overhead_s"] = run["wall_s"] - run["train_s"]
    tf_wall, peer_wall = _med(runs, "wall_s"), _med(ref, "wall_s")
    checks = (
        f"checks passed: params identical across ranks and equal to torchrun's "
        f"(sha256 {runs[0]['digest']}), loss {runs[0]['loss_first']:.3f} -> {runs[0]['loss_last']:.3f}, "
        f"{runs[0]['loss_values']} loss values stored"
    )
    return [
        Row(
            name,
            tf_wall,
            peer_wall,
            "s",
            f"{how}; raw tf {_raw(runs, 'wall_s')} s, torchrun {_raw(ref, 'wall_s')} s; "
            f"training loop tf {_med(runs, 'train_s'):.2f} s vs torchrun {_med(ref, 'train_s'):.2f} s "
            f"(raw tf {_raw(runs, 'train_s')}, torchrun {_raw(ref, 'train_s')}); "
            f"{_server(runs)}; {_inside(runs)}; {checks}",
            higher_is_better=False,
            extra={"trainforge": runs, "torchrun": ref},
        ),
        Row(
            f"DDP {WORLD} ranks, {label}: overhead = wall - training loop",
            _med(runs, "overhead_s"),
            _med(ref, "overhead_s"),
            "s",
            f"raw tf {_raw(runs, 'overhead_s')} s, torchrun {_raw(ref, 'overhead_s')} s; torchrun: "
            f"{_inside(ref)}",
            higher_is_better=False,
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        return [
            Row("DDP", None, None, "s", "torch not installed: pip install torch (CPU is enough)")
        ]
    progress(f"ddp: torch {torch_version}")
    repeats = 1 if quick else 3
    steps = 250 if quick else 600
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-ddp-"))
    try:
        (source / "train.py").write_text(SCRIPT)
        progress(
            f"ddp: torchrun --standalone --nproc_per_node={WORLD} x {repeats + 1}, {steps} steps"
        )
        reference: dict[str, str | None] = {"digest": None}

        def peer_once() -> dict[str, Any]:
            result = torchrun_once(source, steps, reference["digest"])
            reference["digest"] = result["digest"]  # every later launch must match the first
            return result

        peer = _repeat("torchrun", peer_once, repeats)
        for result in peer["runs"]:
            result["overhead_s"] = result["wall_s"] - result["train_s"]
        tf = _trainforge(
            source, steps, repeats, reference["digest"] if "error" not in peer else None
        )
    finally:
        shutil.rmtree(source, ignore_errors=True)

    rows = _rows_for(
        "local target (PyTorchConfiguration, process_count=2)",
        "ScriptRunConfig(distributed_job_config=PyTorchConfiguration('Gloo', process_count=2)), "
        "target local: one launcher, 2 processes",
        tf["local"],
        peer,
        repeats,
    )
    rows += _rows_for(
        "warm 2-node cluster (PyTorch estimator)",
        "dnn.PyTorch(node_count=2, distributed_backend='gloo') on a warm 2-node cluster: "
        "2 node agents, one launcher and process each",
        tf["cluster"],
        peer,
        repeats,
    )
    rows.append(
        Row(
            f"{WORLD}-node cluster create -> nodes idle",
            tf["cluster_warm_s"],
            None,
            "s",
            f"not in any figure above; the first SDK call (server start) took {tf['server_start_s']:.2f} s",
            higher_is_better=False,
        )
    )
    return rows
