"""Environment builds: a cold build and a cache hit, next to doing it by hand.

trainforge: ``EnvironmentCache.ensure`` (what a run's launcher calls) for an environment
asking for PACKAGES, in a fresh cache folder (cold), then again (cache hit). Peer: the
same requirement list (the packages plus trainforge's runtime pins that every trainforge
environment holds) installed by hand into a fresh folder with ``uv venv && uv pip install``
and the same index flags. Both draw on the same warm uv download cache (a warm-up build
fills it first), so the comparison is trainforge's overhead over uv (pip's settings read,
the lock, the import check, the ready marker), and the cache hit is what every later run
pays instead of a build.

Full size adds the pip fallback (``python -m venv && pip install``) next to the same by hand,
and a run through the control plane with a new environment and with a cached one.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, progress, quiet_call, trainforge_home

QUICK_PACKAGES = ["tabulate", "toolz"]
FULL_PACKAGES = ["tabulate", "toolz", "scikit-learn"]
SCRIPT = "import tabulate, toolz\nprint('ok')\n"


def _plan(packages: list[str]):  # type: ignore[no-untyped-def]
    from trainforge.node.environments import plan
    from trainforge.schemas.runs import EnvironmentSpec, PythonSection

    build = plan(EnvironmentSpec(python=PythonSection(pip_packages=packages)))
    assert build is not None
    return build


def _by_hand_uv(build, folder: Path) -> float:  # type: ignore[no-untyped-def]
    from trainforge.node.environments import installer, pip_settings, uv_index_options

    uv = installer()
    if uv is None:
        raise RuntimeError("uv is not installed")
    requirements = folder.parent / f"{folder.name}-requirements.txt"
    requirements.write_text("\n".join([*build.requirements, *build.runtime]) + "\n")
    start = time.perf_counter()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(folder / "bin" / "python"),
            *uv_index_options(pip_settings(), build.pip_options),
            "-r",
            str(requirements),
        ],
        check=True,
    )
    return time.perf_counter() - start


def _by_hand_pip(build, folder: Path) -> float:  # type: ignore[no-untyped-def]
    requirements = folder.parent / f"{folder.name}-requirements.txt"
    requirements.write_text("\n".join([*build.requirements, *build.runtime]) + "\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
        check=True,
        capture_output=True,  # pip warns about every missing folder of the extra index
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return time.perf_counter() - start


def _trainforge_build(build, root: Path, log: Path) -> float:  # type: ignore[no-untyped-def]
    from trainforge.node.environments import EnvironmentCache

    start = time.perf_counter()
    EnvironmentCache(root).ensure(build, log)
    return time.perf_counter() - start


def _builds(packages: list[str], repeats: int, work: Path) -> list[Row]:
    build = _plan(packages)
    progress(f"environments: warm-up build (fills uv's download cache) of {', '.join(packages)}")
    _by_hand_uv(build, work / "warmup")
    cold, hit, peer = [], [], []
    for i in range(repeats):
        progress(f"environments: uv cold build, cache hit and by hand {i + 1}/{repeats}")
        root = work / f"tf-{i}" / "envs"
        cold.append(_trainforge_build(build, root, work / f"tf-{i}.log"))
        hit.append(_trainforge_build(build, root, work / f"tf-{i}.log"))
        peer.append(_by_hand_uv(build, work / f"peer-{i}"))
    note = (
        f"{', '.join(packages)} + {len(build.runtime)} runtime pins; median of {repeats}; "
        "warm uv download cache for both"
    )
    cold_s, hit_s, peer_s = (statistics.median(x) for x in (cold, hit, peer))
    return [
        Row(
            "environment build, cold (trainforge vs uv venv && uv pip install)",
            cold_s,
            peer_s,
            "s",
            note,
            higher_is_better=False,
        ),
        Row(
            "environment cache hit (trainforge) vs a build by hand",
            hit_s,
            peer_s,
            "s",
            f"what every later run and node pays; {note}",
            higher_is_better=False,
            extra={"cold_over_hit": cold_s / hit_s if hit_s else None},
        ),
    ]


def _pip_builds(packages: list[str], work: Path) -> list[Row]:
    from trainforge.node.environments import INSTALLER_SETTING

    build = _plan(packages)
    progress("environments: warm-up of pip's cache (python -m venv && pip install by hand)")
    _by_hand_pip(build, work / "pip-warmup")
    progress("environments: pip fallback build and python -m venv && pip install by hand")
    os.environ[INSTALLER_SETTING] = "pip"
    try:
        cold = _trainforge_build(build, work / "tf-pip" / "envs", work / "tf-pip.log")
    finally:
        os.environ.pop(INSTALLER_SETTING, None)
    peer = _by_hand_pip(build, work / "peer-pip")
    return [
        Row(
            "environment build with pip, cold (trainforge fallback vs venv && pip install)",
            cold,
            peer,
            "s",
            f"{', '.join(packages)} + {len(build.runtime)} runtime pins; one sample each; "
            "pip's cache warmed first",
            higher_is_better=False,
        )
    ]


def _timed_run(exp, config) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    run = exp.submit(config)
    run.wait_for_completion()
    elapsed = time.perf_counter() - start
    if run.get_status() != "Completed":
        raise RuntimeError(f"run {run.id} ended {run.get_status()}")
    return elapsed


def _script_in(folder: Path, source: Path) -> None:
    subprocess.run(
        [str(folder / "bin" / "python"), "train.py"], cwd=source, check=True, capture_output=True
    )


def _runs(packages: list[str], repeats: int, work: Path) -> list[Row]:
    """Submit-to-complete of a run with a new environment and with the cached one, next to
    building the same environment by hand and running the script in it."""
    from trainforge.core import Environment, Experiment, ScriptRunConfig, Workspace
    from trainforge.core.conda_dependencies import CondaDependencies

    source = work / "project"
    source.mkdir()
    (source / "train.py").write_text(SCRIPT)
    new, cached = [], []
    with trainforge_home("environments") as home:
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        exp = Experiment(ws, "bench-env")
        env = Environment("bench-env")
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=packages)
        config = ScriptRunConfig(source_directory=str(source), script="train.py", environment=env)
        for i in range(repeats):
            progress(f"environments: run with a new, then a cached environment {i + 1}/{repeats}")
            shutil.rmtree(home / "envs", ignore_errors=True)  # the next run builds it again
            new.append(_timed_run(exp, config))
            cached.append(_timed_run(exp, config))
    build = _plan(packages)
    by_hand, rerun = [], []
    for i in range(repeats):
        progress(
            f"environments: the same by hand (uv venv, uv pip install, python) {i + 1}/{repeats}"
        )
        folder = work / f"peer-run-{i}"
        start = time.perf_counter()
        _by_hand_uv(build, folder)
        _script_in(folder, source)
        by_hand.append(time.perf_counter() - start)
        start = time.perf_counter()
        _script_in(folder, source)
        rerun.append(time.perf_counter() - start)
    note = f"median of {repeats}; trainforge includes snapshot, scheduling, launcher, log shipping"
    return [
        Row(
            "run with a new environment: submit to complete vs build + python train.py",
            statistics.median(new),
            statistics.median(by_hand),
            "s",
            note,
            higher_is_better=False,
        ),
        Row(
            "run with a cached environment: submit to complete vs python train.py in it",
            statistics.median(cached),
            statistics.median(rerun),
            "s",
            f"the cache hit replaces the build; {note}",
            higher_is_better=False,
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="trainforge-bench-env-"))
    try:
        packages = QUICK_PACKAGES if quick else FULL_PACKAGES
        rows = _builds(packages, 3 if quick else 5, work)
        if not quick:
            rows += _pip_builds(QUICK_PACKAGES, work)
        rows += _runs(QUICK_PACKAGES, 3 if quick else 5, work)
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
