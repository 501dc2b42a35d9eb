"""Submitted script runs on the 'local' target: real launchers, real processes, real logs."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import restart_server, run_file_bytes, run_python
from trainforge.core import Environment, Experiment, Run, ScriptRunConfig
from trainforge.exceptions import ActivityFailedException, SnapshotException, UserErrorException
from trainforge.train.estimator import Estimator


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def driver_log(run: Run) -> str:
    """The driver log, read the way a user reads it."""
    return run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]


TRAIN = """
    import json, os, sys
    from trainforge.core import Run

    run = Run.get_context()
    print("argv", json.dumps(sys.argv[1:]))
    print("interpreter", sys.executable)
    for i in range(3):
        run.log("loss", 1.0 / (i + 1))
    run.log("alpha", 0.5)
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.txt", "w") as f:
        f.write("weights")
    with open("logs/train.log", "w") as f:
        f.write("epoch done")
    print("context", run.id, run.experiment.name, os.environ["AZUREML_RUN_ID"])
"""


def test_script_run_completes_with_metrics_outputs_and_driver_log(
    experiment: Experiment, project: Path
) -> None:
    write(project, "train.py", TRAIN)
    run = experiment.submit(
        ScriptRunConfig(
            source_directory=str(project), script="train.py", arguments=["--n", 3, "--lr", 0.1]
        )
    )
    assert re.fullmatch(rf"{experiment.name}_\d{{10}}_[0-9a-f]{{8}}", run.id)
    assert run.type == "azureml.scriptrun"
    details = run.wait_for_completion()

    assert details["status"] == "Completed"
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1 / 3], "alpha": 0.5}
    names = run.get_file_names()
    assert {"azureml-logs/70_driver_log.txt", "outputs/model.txt", "logs/train.log"} <= set(names)
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert 'argv ["--n", "3", "--lr", "0.1"]' in log
    assert f"context {run.id} {experiment.name} {run.id}" in log
    assert f"interpreter {sys.executable}" in log
    assert details["runDefinition"]["script"] == "train.py"
    assert details["startTimeUtc"] and details["endTimeUtc"]
    assert "azureml-logs/70_driver_log.txt" in details["logFiles"]


def test_runs_of_one_snapshot_fetch_it_once_and_each_starts_from_it_unchanged(
    tf_home: Path, experiment: Experiment, project: Path
) -> None:
    # The script changes its own file in the run's folder: the next run must not see that.
    write(
        project,
        "train.py",
        """
        mark = "#" + "-changed"
        print("marks", open(__file__).read().count(mark))
        with open(__file__, "a") as me:
            me.write(mark + chr(10))
        """,
    )
    config = ScriptRunConfig(source_directory=str(project), script="train.py")
    runs = []
    for _ in range(2):  # one after the other: the second finds the first's copy
        runs.append(run := experiment.submit(config))
        assert run.wait_for_completion()["status"] == "Completed"
        assert "marks 0" in run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert runs[0].get_details()["properties"]["ContentSnapshotId"] == (
        snapshot_id := runs[1].get_details()["properties"]["ContentSnapshotId"]
    )
    launcher_logs = {
        run.id: next(tf_home.parent.glob(f"{tf_home.name}-work/**/{run.id}.1/launcher.log"))
        for run in runs
    }
    fetches = {
        run_id: log.read_text().count(f"/snapshots/{snapshot_id}")
        for run_id, log in launcher_logs.items()
    }
    # Fetched at most once on this machine (an earlier test may have run the same code).
    assert sum(fetches.values()) <= 1, fetches
    assert fetches[runs[1].id] == 0, fetches


def test_wait_for_completion_streams_the_log_and_prints_the_summary(
    experiment: Experiment, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "train.py", 'print("hello from the run")\n')
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert out.startswith(f"RunId: {run.id}\nWeb View: {run.get_portal_url()}")
    assert "Streaming azureml-logs/70_driver_log.txt\n=======" in out
    assert out.index("hello from the run") < out.index("Execution Summary\n=================")
    assert out.rstrip().endswith(f"Web View: {run.get_portal_url()}")


def test_failed_script_reports_its_traceback(experiment: Experiment, project: Path) -> None:
    write(
        project,
        "train.py",
        """
        def train(alpha):
            raise ValueError(f"bad alpha {alpha}")
        train(2)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    with pytest.raises(ActivityFailedException) as failure:
        run.wait_for_completion()
    assert "ValueError: bad alpha 2" in str(failure.value)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    error = details["error"]["error"]
    assert "exited with status code 1" in error["message"]
    assert "Traceback (most recent call last)" in error["message"]
    assert "line 3, in train" in error["message"] or "in train" in error["message"]
    assert {"code": "UserProcessExitCode", "message": "1"} in error["details"]


def test_estimator_turns_script_params_into_arguments(
    experiment: Experiment, project: Path
) -> None:
    write(project, "entry.py", 'import sys, json; print("argv", json.dumps(sys.argv[1:]))\n')
    estimator = Estimator(
        source_directory=str(project),
        entry_script="entry.py",
        script_params={"--alpha": 0.5, "--flag": "", "--layers": [1, 2], "--skip": None},
        compute_target="local",
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed"
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert 'argv ["--alpha", "0.5", "--flag", "--layers", "1", "2", "--skip"]' in log
    assert "Docker is enabled" in log  # use_docker=True is the Estimator default: said once


def test_estimator_validates_like_the_sdk(project: Path) -> None:
    from trainforge.exceptions import TrainingException

    with pytest.raises(TrainingException, match="node_count"):
        Estimator(source_directory=str(project), entry_script="x.py", node_count=0)
    with pytest.raises(TrainingException, match="distributed_backend"):
        Estimator(source_directory=str(project), entry_script="x.py", node_count=2)
    with pytest.raises(TrainingException, match="user_managed"):
        Estimator(
            source_directory=str(project),
            entry_script="x.py",
            user_managed=True,
            pip_packages=["six"],
        )


def test_user_managed_environment_uses_the_submitting_interpreter(
    experiment: Experiment, project: Path
) -> None:
    write(
        project,
        "train.py",
        'import sys, os; print("interpreter", sys.executable); print("MYVAR", os.environ["MYVAR"])\n',
    )
    env = Environment("user-managed-env")
    env.python.user_managed_dependencies = True
    env.environment_variables = {"MYVAR": "hello"}
    run = experiment.submit(
        ScriptRunConfig(source_directory=str(project), script="train.py", environment=env)
    )
    assert run.wait_for_completion()["status"] == "Completed"
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert f"interpreter {sys.executable}" in log and "MYVAR hello" in log


def test_snapshot_honours_amlignore_then_gitignore(experiment: Experiment, project: Path) -> None:
    write(
        project,
        "train.py",
        'import os\nfor root, _, files in sorted(os.walk(".")):\n    for f in sorted(files):\n        print("file", os.path.join(root, f))\n',
    )
    write(project, "data/big.bin", "x")
    write(project, "notes.tmp", "x")
    write(project, "keep.txt", "x")
    write(project, ".gitignore", "keep.txt\n")
    write(project, ".amlignore", "data/\n*.tmp\n")
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    run.wait_for_completion()
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert "file ./keep.txt" in log  # .gitignore is not read when .amlignore exists
    assert "big.bin" not in log and "notes.tmp" not in log

    (project / ".amlignore").unlink()
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    run.wait_for_completion()
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert "keep.txt" not in log and "file ./data/big.bin" in log


def test_snapshot_limits(
    experiment: Experiment, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "train.py", "print('hi')\n")
    many = project / "many"
    many.mkdir()
    for i in range(2001):
        (many / f"{i}.txt").write_text("x")
    with pytest.raises(SnapshotException, match="more than 2000 files"):
        experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    monkeypatch.setenv("AML_SNAPSHOT_NO_FILE_LIMIT", "1")
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    monkeypatch.delenv("AML_SNAPSHOT_NO_FILE_LIMIT")

    big = project.parent / "big-project"
    big.mkdir()
    write(big, "train.py", "print('hi')\n")
    with open(big / "weights.bin", "wb") as f:
        f.truncate(301 * 2**20)  # sparse: the limit is checked on sizes before reading
    with pytest.raises(SnapshotException, match=r"exceeds the limit of 300.0 MB"):
        experiment.submit(ScriptRunConfig(source_directory=str(big), script="train.py"))


def test_bad_scripts_are_refused_before_anything_runs(
    experiment: Experiment, project: Path
) -> None:
    write(project, "train.py", "print('hi')\n")
    write(project.parent, "outside.py", "print('outside')\n")
    with pytest.raises(UserErrorException, match="missing.py was not found in source_directory"):
        experiment.submit(ScriptRunConfig(source_directory=str(project), script="missing.py"))
    with pytest.raises(UserErrorException, match="outside source_directory"):
        experiment.submit(ScriptRunConfig(source_directory=str(project), script="../outside.py"))
    with pytest.raises(UserErrorException, match="is not a folder"):
        experiment.submit(
            ScriptRunConfig(source_directory=str(project / "nope"), script="train.py")
        )
    assert list(experiment.get_runs()) == []


def test_unknown_compute_target_is_refused(experiment: Experiment, project: Path) -> None:
    write(project, "train.py", "print('hi')\n")
    with pytest.raises(UserErrorException, match="compute target 'gpu-cluster' not found"):
        experiment.submit(
            ScriptRunConfig(
                source_directory=str(project), script="train.py", compute_target="gpu-cluster"
            )
        )


def test_outputs_are_uploaded_while_the_run_goes_on(experiment: Experiment, project: Path) -> None:
    write(
        project,
        "train.py",
        """
        import time
        with open("outputs/checkpoint-1.txt", "w") as f:
            f.write("epoch 1")
        time.sleep(30)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    deadline = time.monotonic() + 20
    while "outputs/checkpoint-1.txt" not in run.get_file_names():
        assert time.monotonic() < deadline, "the checkpoint never reached the run's files"
        time.sleep(0.3)
    assert run.get_status() == "Running"
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"


def test_cancel_stops_every_process_the_script_started(
    experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids.json"
    write(
        project,
        "train.py",
        f"""
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        detached = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
        with open({str(pid_file)!r}, "w") as f:
            json.dump([os.getpid(), child.pid, detached.pid], f)
        time.sleep(300)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    pids = json.loads(pid_file.read_text())
    run.cancel()
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled"
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        time.sleep(0.2)
    assert alive == [], f"processes left running after cancel: {alive}"


def test_max_run_duration_stops_the_run(experiment: Experiment, project: Path) -> None:
    write(project, "train.py", "import time\nprint('start', flush=True)\ntime.sleep(60)\n")
    run = experiment.submit(
        ScriptRunConfig(
            source_directory=str(project), script="train.py", max_run_duration_seconds=2
        )
    )
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "max_run_duration_seconds=2" in details["error"]["error"]["message"]


def test_secrets_and_context_inside_a_run(ws, experiment: Experiment, project: Path) -> None:  # type: ignore[no-untyped-def]
    ws.get_default_keyvault().set_secret("db-password", "s3cret")
    write(
        project,
        "train.py",
        """
        from trainforge.core import Run
        run = Run.get_context()
        print("secret", run.get_secret("db-password"))
        run.tag("stage", "train")
        run.add_properties({"framework": "none"})
        print("type", type(run).__name__)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    run.wait_for_completion()
    log = run_file_bytes(run, "azureml-logs/70_driver_log.txt").decode()
    assert "secret s3cret" in log and "type ScriptRun" in log
    assert run.get_tags()["stage"] == "train"
    assert run.get_properties()["framework"] == "none"


@pytest.mark.slow
def test_a_script_logging_100000_values_stores_them_all(
    experiment: Experiment, project: Path
) -> None:
    write(
        project,
        "train.py",
        """
        from trainforge.core import Run
        run = Run.get_context()
        for i in range(100_000):
            run.log("step_value", i)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    values = run.get_metrics("step_value")["step_value"]
    assert values == list(range(100_000))


def test_submitted_runs_outlive_the_submitting_process(
    ws, experiment: Experiment, project: Path
) -> None:  # type: ignore[no-untyped-def]
    write(
        project,
        "train.py",
        "import time\ntime.sleep(2)\nprint('finished after the notebook left')\n",
    )
    done = run_python(
        textwrap.dedent(f"""
        from trainforge.core import Workspace, Experiment, ScriptRunConfig
        ws = Workspace.get({ws.name!r})
        run = Experiment(ws, {experiment.name!r}).submit(ScriptRunConfig(source_directory={str(project)!r}, script="train.py"))
        print(run.id)
    """)
    )
    assert done.returncode == 0, done.stderr
    run = ws.get_run(done.stdout.strip().splitlines()[-1])
    assert run.get_status() in ("Queued", "Preparing", "Running")
    assert run.wait_for_completion()["status"] == "Completed"


def test_two_processes_submitting_at_once_get_distinct_run_numbers(
    ws, experiment: Experiment, project: Path
) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    write(
        project,
        "train.py",
        "from trainforge.core import Run\nrun = Run.get_context()\nfor i in range(2000):\n    run.log('v', i)\n",
    )
    code = textwrap.dedent(f"""
        from trainforge.core import Workspace, Experiment, ScriptRunConfig
        ws = Workspace.get({ws.name!r})
        exp = Experiment(ws, {experiment.name!r})
        for _ in range(3):
            print(exp.submit(ScriptRunConfig(source_directory={str(project)!r}, script="train.py")).id)
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
        )
        for _ in range(2)
    ]
    ids = [line for p in procs for line in p.communicate(timeout=120)[0].split()]
    assert len(set(ids)) == 6
    runs = [ws.get_run(run_id) for run_id in ids]
    for run in runs:
        assert run.wait_for_completion()["status"] == "Completed"
        assert run.get_metrics()["v"] == list(range(2000))
    assert sorted(run.number for run in runs) == list(range(1, 7))


def test_runs_survive_a_restart_of_the_control_plane(
    tf_home: Path, ws, experiment: Experiment, project: Path
) -> None:  # type: ignore[no-untyped-def]

    write(
        project,
        "train.py",
        """
        import time
        from trainforge.core import Run
        run = Run.get_context()
        run.log("before", 1)
        print("waiting", flush=True)
        time.sleep(4)
        run.log("after", 2)
        print("done", flush=True)
    """,
    )
    run = experiment.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
    deadline = time.monotonic() + 30
    while run.get_status() != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    restart_server(tf_home)
    again = Run(experiment, run.id)
    assert again.wait_for_completion()["status"] == "Completed"
    assert again.get_metrics() == {"before": 1, "after": 2}


def test_use_gpu_without_a_gpu_runs_on_cpu_with_a_warning(
    experiment: Experiment, project: Path
) -> None:
    write(project, "train.py", "import os\nprint('gpus', os.environ['AZ_BATCHAI_NUM_GPUS'])\n")
    estimator = Estimator(
        source_directory=str(project), entry_script="train.py", use_gpu=True, compute_target="local"
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed"
    log = driver_log(run)
    if "gpus 0" in log:  # this machine has no GPU
        assert "asks for GPUs (use_gpu) but node local has none; it runs on the CPU" in log
    assert run.get_details()["runDefinition"]["use_gpu"] is True
