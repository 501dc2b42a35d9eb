"""The ``trainforge`` command line, run as a user runs it: a separate process per command."""

from __future__ import annotations

import json
import re
import stat
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.cli import cli, flat
from tests.helpers import wait_until
from trainforge.client import local_server
from trainforge.core import Workspace
from trainforge.schemas.server_state import read_state

# Every test runs the CLI, or the quickstart, as a separate process.
pytestmark = pytest.mark.real_process

TRAIN_SCRIPT = """\
import sys
from trainforge.core import Run

print("ARGV", sys.argv[1:], flush=True)
run = Run.get_context()
run.log("alpha", float(sys.argv[sys.argv.index("--alpha") + 1]))
print("training done", flush=True)
"""

SLEEP_SCRIPT = """\
import sys
import time

print("sleeping", sys.argv[1:], flush=True)
time.sleep(60)
print("woke up", flush=True)
"""

FAILING_SCRIPT = """\
print("about to fail", flush=True)
raise RuntimeError("exploded on purpose")
"""


def _submitted_id(output: str) -> str:
    found = re.search(r"submitted run (\S+) \(experiment", output)
    assert found, output
    return found.group(1)


def _json_of(output: str) -> dict:
    return json.loads(output[output.index("{") :])


def _wait_for_status(ws: Workspace, run_id: str, wanted: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    status = ws.get_run(run_id).get_status()
    while status not in wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        status = ws.get_run(run_id).get_status()
    return status


def _processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if marker in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            pass
    return found


# -- server status ---------------------------------------------------------------------------
def test_status_shows_the_running_server(tf_home: Path) -> None:
    state = read_state(tf_home)
    assert state is not None
    result = cli(tf_home, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    text = flat(result.stdout)
    assert state.address in text
    assert str(state.pid) in text


def test_no_arguments_prints_help(tf_home: Path) -> None:
    result = cli(tf_home)
    assert "workspace" in result.stdout and "run" in result.stdout
    assert "Usage" in result.stdout


def test_up_status_down_on_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    try:
        result = cli(home, "status")
        assert result.returncode == 3, result.stdout + result.stderr
        assert "no trainforge server running" in flat(result.stderr)

        result = cli(home, "up")
        assert result.returncode == 0, result.stdout + result.stderr
        state_file = home / "server.json"
        assert state_file.is_file()
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        state = read_state(home)
        assert state is not None
        assert state.address in flat(result.stdout)
        assert local_server.running_server(home) is not None

        again = cli(home, "up")  # idempotent: the same server
        assert again.returncode == 0
        assert read_state(home) == state

        result = cli(home, "status")
        assert result.returncode == 0
        assert state.address in flat(result.stdout)

        result = cli(home, "down")
        assert result.returncode == 0, result.stdout + result.stderr
        assert str(state.pid) in result.stdout
        assert not state_file.exists()
        assert local_server.running_server(home) is None

        result = cli(home, "status")
        assert result.returncode == 3
        result = cli(home, "down")
        assert result.returncode == 0
        assert "no server was running" in result.stdout
    finally:
        local_server.stop_server(home)


# -- workspaces ------------------------------------------------------------------------------
def test_workspace_create_write_config_and_show(tf_home: Path, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    config_dir = tmp_path / "project"
    result = cli(
        tf_home, "workspace", "create", name, "--exist-ok", "--write-config", str(config_dir)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    created = json.loads(result.stdout)
    assert created["name"] == name
    assert created["type"] == "Microsoft.MachineLearningServices/workspaces"

    config = json.loads((config_dir / ".azureml" / "config.json").read_text())
    assert config == {"Id": None, "Scope": created["id"]}

    again = cli(tf_home, "workspace", "create", name, "--exist-ok")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["workspaceid"] == created["workspaceid"]

    shown = cli(tf_home, "workspace", "show", name)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    details = json.loads(shown.stdout)
    assert details["workspaceid"] == created["workspaceid"]
    assert details["id"].endswith(f"/workspaces/{name}")

    from_config = cli(tf_home, "workspace", "show", cwd=config_dir)
    assert from_config.returncode == 0, from_config.stdout + from_config.stderr
    assert _json_of(from_config.stdout)["workspaceid"] == created["workspaceid"]


def test_workspace_create_existing_without_exist_ok_fails(tf_home: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert cli(tf_home, "workspace", "create", name).returncode == 0
    result = cli(tf_home, "workspace", "create", name)
    assert result.returncode == 1
    text = flat(result.stdout + result.stderr)
    assert "UserErrorException" in text and name in text
    assert "Traceback" not in result.stderr


def test_workspace_create_invalid_name_fails_naming_the_rule(tf_home: Path) -> None:
    result = cli(tf_home, "workspace", "create", "-x")
    assert result.returncode != 0
    result = cli(tf_home, "workspace", "create", "x")
    assert result.returncode == 1
    text = flat(result.stdout + result.stderr)
    assert "3 to 33 characters" in text


def test_workspace_show_unknown_fails(tf_home: Path) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    result = cli(tf_home, "workspace", "show", name)
    assert result.returncode == 1
    text = flat(result.stdout + result.stderr)
    assert "ProjectSystemException" in text and name in text
    assert "Traceback" not in result.stderr


# -- runs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def submitted(ws: Workspace, tf_home: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One run submitted with --wait, shared by the list/show/logs checks."""
    source = tmp_path_factory.mktemp("cli-source")
    (source / "train.py").write_text(TRAIN_SCRIPT)
    experiment = f"cli-exp-{uuid.uuid4().hex[:8]}"
    result = cli(
        tf_home,
        "run",
        "submit",
        "--workspace",
        "test-ws",
        "--experiment",
        experiment,
        "--source-dir",
        str(source),
        "--script",
        "train.py",
        "--wait",
        "--",
        "--alpha",
        "0.5",
    )
    return experiment, result


def test_run_submit_wait_streams_the_log(submitted) -> None:  # type: ignore[no-untyped-def]
    experiment, result = submitted
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = _submitted_id(result.stdout)
    assert run_id.startswith(f"{experiment}_")
    assert "ARGV ['--alpha', '0.5']" in result.stdout
    assert "training done" in result.stdout
    assert "Execution Summary" in result.stdout
    assert f"RunId: {run_id}" in result.stdout
    assert result.stdout.index("ARGV") < result.stdout.index("Execution Summary")


def test_run_list_shows_the_run(tf_home: Path, submitted) -> None:  # type: ignore[no-untyped-def]
    experiment, submit = submitted
    run_id = _submitted_id(submit.stdout)
    result = cli(tf_home, "run", "list", "-w", "test-ws", "-e", experiment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_id in result.stdout
    row = next(line for line in result.stdout.splitlines() if run_id in line)
    assert "Completed" in row and experiment in row


def test_run_show_prints_details_and_metrics(tf_home: Path, submitted) -> None:  # type: ignore[no-untyped-def]
    _, submit = submitted
    run_id = _submitted_id(submit.stdout)
    result = cli(tf_home, "run", "show", run_id, "-w", "test-ws", "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["runId"] == run_id
    assert shown["status"] == "Completed"
    assert shown["metrics"] == {"alpha": 0.5}
    assert shown["runDefinition"]["arguments"] == ["--alpha", "0.5"]
    assert shown["runDefinition"]["script"] == "train.py"
    assert "azureml-logs/70_driver_log.txt" in shown["logFiles"]


def test_run_logs_prints_the_driver_log(tf_home: Path, submitted) -> None:  # type: ignore[no-untyped-def]
    _, submit = submitted
    run_id = _submitted_id(submit.stdout)
    result = cli(tf_home, "run", "logs", run_id, "-w", "test-ws")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ARGV ['--alpha', '0.5']" in result.stdout
    assert "training done" in result.stdout
    assert "Execution Summary" not in result.stdout


def test_run_logs_of_a_run_without_log_fails(tf_home: Path, experiment, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None, outputs=str(tmp_path / "outputs"))
    try:
        result = cli(tf_home, "run", "logs", run.id, "-w", "test-ws")
        assert result.returncode == 1
        assert "has no log" in flat(result.stderr)
    finally:
        run.complete()


def test_run_show_unknown_run_fails(tf_home: Path, ws: Workspace) -> None:
    missing = f"nope_{uuid.uuid4().hex[:8]}"
    result = cli(tf_home, "run", "show", missing, "-w", "test-ws")
    assert result.returncode == 1
    assert missing in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_run_submit_failing_script_exits_1(tf_home: Path, ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "fail.py").write_text(FAILING_SCRIPT)
    experiment = f"cli-fail-{uuid.uuid4().hex[:8]}"
    result = cli(
        tf_home,
        "run",
        "submit",
        "-w",
        "test-ws",
        "-e",
        experiment,
        "--source-dir",
        str(tmp_path),
        "--script",
        "fail.py",
        "--wait",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "about to fail" in result.stdout
    assert "exploded on purpose" in result.stdout
    run_id = _submitted_id(result.stdout)
    assert ws.get_run(run_id).get_status() == "Failed"


@pytest.mark.slow
def test_run_cancel_stops_a_sleeping_run(tf_home: Path, ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text(SLEEP_SCRIPT)
    marker = f"marker-{uuid.uuid4().hex}"
    experiment = f"cli-cancel-{uuid.uuid4().hex[:8]}"
    result = cli(
        tf_home,
        "run",
        "submit",
        "-w",
        "test-ws",
        "-e",
        experiment,
        "--source-dir",
        str(tmp_path),
        "--script",
        "sleepy.py",
        "--",
        marker,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = _submitted_id(result.stdout)
    try:
        assert _wait_for_status(ws, run_id, {"Running"}) == "Running"
        wait_until(lambda: _processes_with(marker), 30, "the script to start")

        result = cli(tf_home, "run", "cancel", run_id, "-w", "test-ws")
        assert result.returncode == 0, result.stdout + result.stderr
        assert run_id in result.stdout

        assert _wait_for_status(ws, run_id, {"Canceled", "Completed", "Failed"}) == "Canceled"
        wait_until(lambda: not _processes_with(marker), 15, "the script's process to end")
        details = ws.get_run(run_id).get_details_with_logs()
        assert details["status"] == "Canceled"
        assert details["endTimeUtc"] is not None
        # Stopped in its 60 s sleep, not after it.
        log = "".join(details["logFiles"].values())
        assert "sleeping" in log and "woke up" not in log
    finally:
        for process in _processes_with(marker):
            try:
                process.kill()
            except psutil.Error:
                pass


@pytest.mark.slow
def test_compute_commands_manage_a_cluster(tf_home: Path, ws) -> None:  # type: ignore[no-untyped-def]
    name = f"cli-{uuid.uuid4().hex[:6]}"
    base = ("-w", ws.name)
    created = cli(
        tf_home,
        "compute",
        "create",
        name,
        "--vm-size",
        "STANDARD_D2_V2",
        "--vm-priority",
        "lowpriority",
        "--min-nodes",
        "1",
        "--max-nodes",
        "2",
        "--idle-seconds",
        "300",
        "--wait",
        *base,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Minimum number of nodes requested have been provisioned" in created.stdout
    shown = cli(tf_home, "compute", "show", name, *base)
    status = json.loads(shown.stdout)
    assert status["currentNodeCount"] == 1 and status["vmPriority"] == "LowPriority"
    listed = cli(tf_home, "compute", "list", *base)
    assert name in listed.stdout and "STANDARD_D2_V2" in listed.stdout
    nodes = cli(tf_home, "compute", "nodes", name, *base)
    node_id = re.search(rf"({name}-n\d+)", nodes.stdout)
    assert node_id and "idle" in nodes.stdout, nodes.stdout
    updated = cli(tf_home, "compute", "update", name, "--max-nodes", "3", *base)
    assert (
        updated.returncode == 0
        and json.loads(cli(tf_home, "compute", "show", name, *base).stdout)["scaleSettings"][
            "maxNodeCount"
        ]
        == 3
    )
    preempted = cli(tf_home, "compute", "preempt", name, node_id.group(1), *base)
    assert preempted.returncode == 0, preempted.stdout + preempted.stderr
    deleted = cli(tf_home, "compute", "delete", name, "--wait", *base)
    assert deleted.returncode == 0 and 'operation "Succeeded"' in deleted.stdout
    missing = cli(tf_home, "compute", "show", name, *base)
    assert missing.returncode == 1 and "ComputeTargetException" in missing.stdout + missing.stderr


@pytest.mark.slow
def test_down_all_stops_the_server_and_every_node_agent(tmp_path: Path) -> None:
    import psutil

    home = tmp_path / "home"
    try:
        assert cli(home, "workspace", "create", "down-ws", "--exist-ok").returncode == 0
        created = cli(
            home,
            "compute",
            "create",
            "pool",
            "--vm-size",
            "STANDARD_D2_V2",
            "--min-nodes",
            "1",
            "--wait",
            "-w",
            "down-ws",
        )
        assert created.returncode == 0, created.stdout + created.stderr
        nodes = cli(home, "compute", "nodes", "pool", "-w", "down-ws")
        assert "idle" in nodes.stdout
        agents = local_server._recorded_processes(home.resolve())
        assert len(agents) == 1
        down = cli(home, "down", "--all")
        assert down.returncode == 0 and "stopped the server" in down.stdout
        assert not agents[0].is_running() or agents[0].status() == psutil.STATUS_ZOMBIE
        assert cli(home, "status").returncode == 3
    finally:
        local_server.stop_all(home)
