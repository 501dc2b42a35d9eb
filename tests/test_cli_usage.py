"""The ``trainforge`` command as a new user lives in it, run in-process with Typer's CliRunner
against a real control plane: output formats, whole ids, errors and exit codes, files."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import click
import pytest
from typer.testing import CliRunner

from tests.helpers import wait_until
from trainforge.cli.main import app
from trainforge.core import Experiment, ScriptRunConfig, Workspace

SLEEPER = """
    import time
    print("sleeping", flush=True)
    time.sleep(120)
"""
WRITER = """
    import os
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.txt", "w").write("weights")
    print("wrote the model", flush=True)
"""
FAILING = """
    print("about to fail", flush=True)
    raise RuntimeError("exploded on purpose")
"""


def invoke(*args: str, columns: int = 80, input: str | None = None):  # type: ignore[no-untyped-def]
    """Run one command in-process, as a pipe of ``columns`` columns would show it."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)}, input=input)


def write(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(code))
    return folder


def _commands(group: click.Command, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))
    else:
        yield path, group


def test_help_has_no_type_placeholders_on_flags_and_every_option_explains_itself() -> None:
    from typer.main import get_command

    root = get_command(app)
    missing = []
    for path, command in _commands(root):
        result = invoke(*path, "--help", columns=100)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        for param in command.params:
            if isinstance(param, click.Option) and not param.help and param.name != "help":
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []
    assert "Exit codes" in invoke("--help").output


def test_lists_print_table_json_tsv_and_plain_ids(ws: Workspace) -> None:
    other = Workspace.create(f"cli-list-{uuid.uuid4().hex[:6]}", exist_ok=True, show_output=False)
    ids = invoke("workspace", "list", "-o", "ids")
    assert ids.exit_code == 0, ids.output
    assert {ws.name, other.name} <= set(ids.stdout.split())
    as_json = json.loads(invoke("workspace", "list", "-o", "json").stdout)
    assert {"name": other.name}.items() <= next(
        w for w in as_json if w["name"] == other.name
    ).items()
    tsv = invoke("workspace", "list", "-o", "tsv").stdout.splitlines()
    assert any(line.split("\t")[0] == other.name for line in tsv)
    table = invoke("workspace", "list").stdout
    assert "name" in table.splitlines()[0] and other.name in table
    Experiment(ws, f"listed-{uuid.uuid4().hex[:6]}").start_logging().complete()
    experiments = invoke("experiment", "list", "-w", ws.name, "-o", "ids")
    assert experiments.exit_code == 0 and "listed-" in experiments.stdout


def test_ids_are_never_cut_in_a_narrow_pipe(ws: Workspace) -> None:
    experiment = Experiment(ws, f"a-rather-long-experiment-name-{uuid.uuid4().hex[:8]}")
    runs = [experiment.start_logging() for _ in range(2)]
    for run in runs:
        run.complete()
    table = invoke("run", "list", "-w", ws.name, "-e", experiment.name, columns=40)
    assert table.exit_code == 0, table.output
    for run in runs:
        assert run.id in table.stdout  # whole, not "a-rather-long-exp..."
    assert "…" not in table.stdout and "..." not in table.stdout
    ids = invoke("run", "list", "-w", ws.name, "-e", experiment.name, "-o", "ids", columns=40)
    assert sorted(ids.stdout.split()) == sorted(run.id for run in runs)


def test_errors_go_to_stderr_in_one_format_with_exit_code_1(ws: Workspace) -> None:
    missing = f"nope_{uuid.uuid4().hex[:8]}"
    result = invoke("run", "show", missing, "-w", ws.name)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and missing in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(ws: Workspace) -> None:
    assert invoke("run", "list", "--no-such-flag").exit_code == 2
    both = invoke("run", "submit", "-w", ws.name, "--script", "a.py", "--command", "ls")
    assert both.exit_code == 2 and both.stderr.startswith("error: ")


def test_outside_a_config_folder_it_says_how_to_name_the_workspace(
    tf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "list")
    assert result.exit_code == 2
    assert "-w NAME" in result.stderr and "--write-config" in result.stderr


def test_status_without_a_server_exits_3(tmp_path: Path) -> None:
    result = invoke("status", "--home", str(tmp_path / "empty"))
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no trainforge server running")


def test_run_show_is_a_summary_and_json_has_everything(
    ws: Workspace, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    write(project, "train.py", WRITER)
    run = experiment.submit(ScriptRunConfig(str(project), "train.py"), tags={"rank": 1})
    run.wait_for_completion()
    summary = invoke("run", "show", run.id, "-w", ws.name)
    assert summary.exit_code == 0, summary.output
    lines = summary.stdout.splitlines()
    assert len(lines) < 20 and run.id in summary.stdout and "Completed" in summary.stdout
    assert "rank=1" in summary.stdout
    full = json.loads(invoke("run", "show", run.id, "-w", ws.name, "-o", "json").stdout)
    assert full["runId"] == run.id and full["runDefinition"]["script"] == "train.py"

    files = invoke("run", "files", run.id, "-w", ws.name, "-o", "ids")
    assert "outputs/model.txt" in files.stdout.split()
    assert "azureml-logs/70_driver_log.txt" in files.stdout.split()
    target = tmp_path / "downloaded"
    got = invoke(
        "run", "download", run.id, "-w", ws.name, "--prefix", "outputs/", "-d", str(target)
    )
    assert got.exit_code == 0, got.output
    assert (target / "outputs" / "model.txt").read_text() == "weights"


def test_a_failed_run_ends_with_its_status_and_one_error_line(
    ws: Workspace, tmp_path: Path
) -> None:
    source = write(tmp_path / "src", "fail.py", FAILING)
    result = invoke(
        "run", "submit", "-w", ws.name, "-e", "cli-fails", "--source-dir", str(source),
        "--script", "fail.py", "--wait",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "exploded on purpose" in result.stdout  # the streamed log
    assert "{'error'" not in result.output and "\\n" not in result.output
    assert result.stdout.count("Traceback (most recent call last)") == 1
    assert ": Failed" in result.stdout
    assert result.stderr.startswith("error: run ") and "failed: Execution failed" in result.stderr
    run_id = result.stdout.split("submitted run ", 1)[1].split()[0]
    follow = invoke("run", "logs", run_id, "-w", ws.name, "--follow")
    assert follow.exit_code == 1  # the run failed: not 0
    assert "exploded on purpose" in follow.stdout and f"run {run_id}: Failed" in follow.stderr


@pytest.mark.slow
def test_wait_on_a_run_canceled_elsewhere_prints_the_status_and_exits_1(
    ws: Workspace, tmp_path: Path
) -> None:
    import threading

    source = write(tmp_path / "src", "sleep.py", SLEEPER)
    experiment = f"cli-wait-{uuid.uuid4().hex[:6]}"

    def cancel_when_running() -> None:
        runs = wait_until(lambda: list(Experiment(ws, experiment).get_runs()), 60, "the run")
        wait_until(lambda: runs[0].get_status() == "Running", 60, "the run to start")
        runs[0].cancel()  # from elsewhere: another user, the studio, the SDK

    canceler = threading.Thread(target=cancel_when_running)
    canceler.start()
    result = invoke(
        "run", "submit", "-w", ws.name, "-e", experiment, "--source-dir", str(source),
        "--script", "sleep.py", "--wait",
    )  # fmt: skip
    canceler.join()
    assert result.exit_code == 1
    assert ": Canceled" in result.stdout and "was canceled" in result.stderr


def test_submit_with_a_registered_environment(ws: Workspace, tmp_path: Path) -> None:
    import sys

    from trainforge.core import Environment

    name = f"cli-env-{uuid.uuid4().hex[:6]}"
    env = Environment(name)
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    env.environment_variables = {"GREETING": "from the environment"}
    env.register(ws)
    source = write(tmp_path / "src", "hello.py", "import os\nprint(os.environ['GREETING'])\n")
    result = invoke(
        "run", "submit", "-w", ws.name, "-e", "cli-env", "--source-dir", str(source),
        "--script", "hello.py", "--environment", f"{name}:1", "--wait",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "from the environment" in result.stdout
    unknown = invoke(
        "run", "submit", "-w", ws.name, "--source-dir", str(source), "--script", "hello.py",
        "--environment", "no-such-env",
    )  # fmt: skip
    assert unknown.exit_code == 1 and "no-such-env" in unknown.stderr


@pytest.mark.slow
def test_following_a_run_canceled_elsewhere_says_so_and_exits_1(
    ws: Workspace, experiment: Experiment, project: Path
) -> None:
    write(project, "sleep.py", SLEEPER)
    run = experiment.submit(ScriptRunConfig(str(project), "sleep.py"))
    wait_until(lambda: run.get_status() == "Running", 60, "the run to start")
    run.cancel()
    result = invoke("run", "logs", run.id, "-w", ws.name, "--follow")
    assert result.exit_code == 1
    assert f"run {run.id}: Canceled" in result.stderr and "was canceled" in result.stderr


def test_datastore_files_lists_what_was_uploaded(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.csv").write_text("x,y\n1,2\n")
    prefix = f"listing-{uuid.uuid4().hex[:6]}"
    ws.get_default_datastore().upload(str(source), target_path=prefix, show_progress=False)
    result = invoke("datastore", "files", "-w", ws.name, "--prefix", prefix, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"path": f"{prefix}/sub/a.csv", "bytes": 8}]


@pytest.mark.slow
def test_submit_to_a_cluster_with_tags_then_delete_it_asks_first(
    ws: Workspace, tmp_path: Path
) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = invoke(
        "compute", "create", name, "-w", ws.name, "--vm-size", "STANDARD_D2_V2", "--max-nodes", "1"
    )
    assert created.exit_code == 0, created.output
    try:
        source = write(tmp_path / "src", "sleep.py", SLEEPER)
        submitted = invoke(
            "run", "submit", "-w", ws.name, "-e", "on-a-cluster", "--source-dir", str(source),
            "--script", "sleep.py", "--compute", name, "--tag", "team=vision", "--tag", "draft",
        )  # fmt: skip
        assert submitted.exit_code == 0, submitted.output
        run = ws.get_run(submitted.stdout.split("submitted run ", 1)[1].split()[0])
        assert run.get_details()["target"] == name
        assert run.get_tags() == {"team": "vision", "draft": None}
        wait_until(lambda: run.get_status() == "Running", 90, "the run to start on the cluster")
        refused = invoke("compute", "delete", name, "-w", ws.name, input="n\n")
        assert refused.exit_code == 1 and run.id in refused.stderr
        assert run.get_status() == "Running"  # nothing was deleted
    finally:
        deleted = invoke("compute", "delete", name, "-w", ws.name, "--yes", "--wait")
        assert deleted.exit_code == 0, deleted.output


@pytest.mark.real_process
def test_the_studio_signs_a_browser_in_once_and_it_stays_signed_in_after_a_restart(
    tmp_path: Path,
) -> None:
    import socket

    import httpx

    from trainforge.client import local_server
    from trainforge.schemas.server_state import read_state

    home = tmp_path / "home"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        assert invoke("up", "--home", str(home), "--port", str(port)).exit_code == 0
        opened = tmp_path / "opened.txt"
        browser = tmp_path / "browser.sh"  # what $BROWSER names is what webbrowser runs
        browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
        browser.chmod(0o755)
        first = CliRunner().invoke(
            app, ["studio", "--home", str(home)], env={"BROWSER": f"{browser} %s"}
        )
        url = first.stdout.strip()
        wait_until(lambda: opened.exists() and opened.read_text().strip(), 10, "the browser")
        assert opened.read_text().strip() == url
        assert url.startswith(f"http://127.0.0.1:{port}/studio-login?code="), first.output
        token = read_state(home).token  # type: ignore[union-attr]
        assert token not in url  # the printed link carries a one-time code, not the token
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as signed:
            assert signed.get(url).status_code == 200  # the studio, once redirected
            assert signed.get("/api/v1/workspaces").status_code == 200  # by its cookie
            assert invoke("down", "--home", str(home)).exit_code == 0
            again = invoke("studio", "--no-browser", "--home", str(home))  # starts it again
            assert again.exit_code == 0 and again.stdout.strip() != url
            # Same port, same token: the browser's cookie still signs it in.
            assert signed.get("/api/v1/workspaces").status_code == 200
        with httpx.Client(follow_redirects=True) as other:  # the used link signs nobody in
            other.get(url)
            assert other.get(f"http://127.0.0.1:{port}/api/v1/workspaces").status_code == 401
    finally:
        local_server.stop_server(home)


@pytest.mark.real_process  # each try starts a server process, which dies at start
@pytest.mark.parametrize(
    "command",
    [
        ("workspace", "list"),
        ("experiment", "list", "-w", "any-ws"),
        ("run", "list", "-w", "any-ws"),
        ("compute", "list", "-w", "any-ws"),
        ("run", "show", "some-run", "-w", "any-ws"),
    ],
)
def test_commands_exit_3_when_no_server_can_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    from trainforge.client import session

    home = tmp_path / "broken-home"
    home.mkdir()
    (home / "trainforge.db").mkdir()  # the store cannot open: the server exits at start
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    monkeypatch.setattr(session, "_default", None)  # this process's session: the new home
    result = invoke(*command)
    assert result.exit_code == 3, (result.exit_code, result.output)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
