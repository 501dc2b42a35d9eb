"""``trainforge sweep submit|show|cancel``, run as a user runs it: one process per command."""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli import cli
from tests.sweeps import CURVE
from trainforge.core import Workspace

pytestmark = pytest.mark.slow


def _run_id(output: str) -> str:
    found = re.search(r"submitted HyperDrive run (\S+) \(experiment", output)
    assert found, output
    return found.group(1)


def test_submit_a_yaml_sweep_then_show_it(tf_home: Path, ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(textwrap.dedent(CURVE))
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(
            """\
            experiment: cli-sweep
            source_directory: src
            script: train.py
            arguments: [--steps, 3, --sleep, 0.05]
            sampling:
              type: grid
              parameter_space:
                --ceiling: choice(0.2, 0.7, 0.4)
            policy:
              type: bandit
              slack_factor: 0.5
              delay_evaluation: 2
            primary_metric_name: accuracy
            primary_metric_goal: maximize
            max_total_runs: 5
            max_concurrent_runs: 1
            """
        )
    )
    done = cli(tf_home, "sweep", "submit", str(tmp_path / "sweep.yaml"), "-w", ws.name, "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = _run_id(done.stdout)
    assert "Streaming azureml-logs/hyperdrive.txt" in done.stdout
    assert "HyperDrive run completed: 3 child runs" in done.stdout
    shown = cli(tf_home, "sweep", "show", run_id, "-w", ws.name)
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.split())
    assert f"HyperDrive run {run_id}: Completed - GRID sampling, policy Bandit" in flat
    assert f"best: {run_id}_1 accuracy=0.7" in flat
    as_json = json.loads(cli(tf_home, "sweep", "show", run_id, "-w", ws.name, "--json").stdout)
    assert [t["parameters"]["--ceiling"] for t in as_json["trials"]] == [0.2, 0.7, 0.4]
    statuses = {t["run_id"]: t["status"] for t in as_json["trials"]}
    assert statuses[f"{run_id}_0"] == statuses[f"{run_id}_1"] == "Completed"


def test_submit_a_python_sweep_then_cancel_it(tf_home: Path, ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent(CURVE))
    (tmp_path / "sweep.py").write_text(
        textwrap.dedent(
            f"""\
            from trainforge.core import ScriptRunConfig
            from trainforge.train.hyperdrive import (
                HyperDriveConfig, PrimaryMetricGoal, RandomParameterSampling, uniform,
            )

            hd_config = HyperDriveConfig(
                run_config=ScriptRunConfig(
                    source_directory={str(tmp_path)!r}, script="train.py",
                    arguments=["--steps", 300, "--sleep", 0.1],
                ),
                hyperparameter_sampling=RandomParameterSampling({{"ceiling": uniform(0, 1)}}),
                primary_metric_name="accuracy",
                primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                max_total_runs=4,
                max_concurrent_runs=2,
            )
            """
        )
    )
    done = cli(
        tf_home, "sweep", "submit", str(tmp_path / "sweep.py"), "-w", ws.name, "-e", "py-sweep"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = _run_id(done.stdout)
    hd = ws.get_run(run_id)
    deadline = time.monotonic() + 60
    while not any(c.get_status() == "Running" for c in hd.get_children()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    canceled = cli(tf_home, "sweep", "cancel", run_id, "-w", ws.name)
    assert canceled.returncode == 0, canceled.stderr
    assert f"HyperDrive run {run_id}: Canceled" in canceled.stdout
    for child in hd.get_children():
        child.wait_for_completion(raise_on_error=False)
        assert child.get_status() == "Canceled"


def test_a_bad_sweep_file_names_the_field(tf_home: Path, ws: Workspace, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.json"
    base = {
        "script": "train.py",
        "sampling": {"type": "grid", "parameter_space": {"lr": "uniform(0, 1)"}},
        "primary_metric_name": "acc",
        "primary_metric_goal": "maximize",
        "max_total_runs": 2,
    }
    (tmp_path / "train.py").write_text("print(1)\n")
    spec.write_text(json.dumps(base))
    done = cli(tf_home, "sweep", "submit", str(spec), "-w", ws.name)
    assert done.returncode == 1
    assert "parameter_space['lr']: GridParameterSampling supports only" in " ".join(
        done.stderr.split()
    )
    spec.write_text(json.dumps({**base, "max_runs": 3}))
    done = cli(tf_home, "sweep", "submit", str(spec), "-w", ws.name)
    assert done.returncode == 1 and "max_runs: Extra inputs are not permitted" in done.stderr
    spec.write_text(
        json.dumps({**base, "sampling": {"type": "random", "parameter_space": {"lr": "exp(1)"}}})
    )
    done = cli(tf_home, "sweep", "submit", str(spec), "-w", ws.name)
    assert done.returncode == 1 and "is not an expression such as choice(16, 32)" in done.stderr
