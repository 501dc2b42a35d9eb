"""The ``trainforge`` CLI under Typer's CliRunner, against a control plane served from this
process (tests/inprocess.py): output, exit codes and error lines of the commands that only
talk to the REST API. What needs a real process (up/down, runs that execute) is in
test_cli.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli import failed, flat, ok

pytestmark = pytest.mark.usefixtures("cli_server")


def test_workspace_create_show_list() -> None:
    created = json.loads(ok("workspace", "create", "cli-ws"))
    assert created["name"] == "cli-ws"
    assert json.loads(ok("workspace", "show", "cli-ws"))["name"] == "cli-ws"
    assert "cli-ws" in ok("workspace", "list")
    assert ok("workspace", "create", "cli-ws", "--exist-ok")


def test_workspace_errors_are_one_line_with_exit_1() -> None:
    ok("workspace", "create", "cli-ws")
    assert failed(1, "workspace", "create", "cli-ws").startswith("error:")
    message = failed(1, "workspace", "create", "x")
    assert message.startswith("error:") and "3 to 33 characters" in message
    assert "error:" in failed(1, "workspace", "show", "missing-ws")


def test_no_workspace_and_no_config_is_a_usage_error(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert "no workspace given and no config.json" in failed(2, "experiment", "list")


def test_compute_create_list_update_show(cli_server: Any) -> None:
    ok("workspace", "create", "cli-ws")
    created = ok(
        "compute",
        "create",
        "cpu-1",
        "--vm-size",
        "STANDARD_D2_V2",
        "--max-nodes",
        "2",
        "-w",
        "cli-ws",
    )
    assert "compute cpu-1: STANDARD_D2_V2, Dedicated, 0-2 nodes" in flat(created)
    listed = json.loads(ok("compute", "list", "-w", "cli-ws", "-o", "json"))
    assert [row["name"] for row in listed] == ["cpu-1"]
    ok("compute", "update", "cpu-1", "--max-nodes", "3", "-w", "cli-ws")
    status = json.loads(ok("compute", "show", "cpu-1", "-w", "cli-ws"))
    assert status["scaleSettings"]["maxNodeCount"] == 3
    # What the REST API holds is what the CLI said.
    info = cli_server.call("GET", "/workspaces/cli-ws/computes/cpu-1")
    assert (info["vm_size"], info["scale_settings"]["max_nodes"]) == ("STANDARD_D2_V2", 3)


def test_compute_errors_name_what_is_wrong() -> None:
    ok("workspace", "create", "cli-ws")
    ok("compute", "create", "cpu-1", "--max-nodes", "2", "-w", "cli-ws")
    assert "Invalid max_nodes 2: it must be at least min_nodes (5)" in failed(
        1, "compute", "update", "cpu-1", "--min-nodes", "5", "-w", "cli-ws"
    )
    assert "NOPE" in failed(1, "compute", "create", "cpu-2", "--vm-size", "NOPE", "-w", "cli-ws")
    assert "not found" in failed(1, "compute", "show", "cpu-9", "-w", "cli-ws")
    listed = json.loads(ok("compute", "list", "-w", "cli-ws", "-o", "json"))
    assert [row["name"] for row in listed] == ["cpu-1"]


def test_runs_list_and_show_what_the_api_holds(cli_server: Any) -> None:
    ok("workspace", "create", "cli-ws")
    run = cli_server.call(
        "POST", "/workspaces/cli-ws/experiments/exp/runs", json={"kind": "interactive"}
    )
    cli_server.call(
        "POST",
        f"/workspaces/cli-ws/runs/{run['run_id']}/metrics:batch",
        json={"batch_id": "b1", "points": [{"name": "loss", "value": 0.25}]},
    )
    assert ok("run", "list", "-w", "cli-ws", "-o", "ids").split() == [run["run_id"]]
    shown = json.loads(ok("run", "show", run["run_id"], "-w", "cli-ws", "-o", "json"))
    assert (shown["status"], shown["metrics"]) == ("Running", {"loss": 0.25})
    assert ok("experiment", "list", "-w", "cli-ws", "-o", "ids").split()
    assert "not found" in failed(1, "run", "show", "no-such-run", "-w", "cli-ws")
