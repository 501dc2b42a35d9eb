"""Calls of the public Azure ML sample notebooks (reference §11), unchanged but for the import."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import requests

from trainforge.core import Experiment, ScriptRunConfig


def write(folder: Path, name: str, code: str) -> None:
    (folder / name).write_text(textwrap.dedent(code))


def argv_of(run) -> list[str]:  # type: ignore[no-untyped-def]
    log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    line = next(line for line in log.splitlines() if line.startswith("argv "))
    return json.loads(line[5:])


ARGV = """
    import json, sys
    print("argv " + json.dumps(sys.argv[1:]))
"""


def test_sdk_version_prints_as_in_the_first_cell() -> None:
    import trainforge.core

    print("SDK version:", trainforge.core.VERSION)
    assert trainforge.core.VERSION == trainforge.__version__


def test_set_diagnostics_collection_is_accepted_and_said_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from trainforge.telemetry import set_diagnostics_collection

    set_diagnostics_collection(send_diagnostics=True)
    set_diagnostics_collection(send_diagnostics=True)
    said = capsys.readouterr()
    assert (said.out + said.err).count("collects no diagnostics") == 1


def test_tags_and_properties_are_coerced_to_strings_as_the_sdk_does(
    experiment: Experiment,
) -> None:
    run = experiment.start_logging()
    run.tag("Competition Rank", 1)
    run.set_tags({"learning rate": 0.01, "best": True, "note": None})
    run.add_properties({"epochs": 20})
    run.complete()
    assert run.get_tags() == {
        "Competition Rank": "1",
        "learning rate": "0.01",
        "best": "True",
        "note": None,
    }
    assert run.get_properties()["epochs"] == "20"


def test_submit_tags_are_coerced_too(experiment: Experiment, project: Path) -> None:
    write(project, "train.py", ARGV)
    run = experiment.submit(ScriptRunConfig(str(project), "train.py"), tags={"rank": 1, "lr": 0.5})
    assert run.get_tags() == {"rank": "1", "lr": "0.5"}
    run.wait_for_completion()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.InteractiveLoginAuthentication(),
        lambda a: a.InteractiveLoginAuthentication(force=False, tenant_id="my-tenant"),
        lambda a: a.ServicePrincipalAuthentication(
            tenant_id="t", service_principal_id="sp", service_principal_password="secret"
        ),
        lambda a: a.MsiAuthentication(),
        lambda a: a.AzureCliAuthentication(),
    ],
    ids=["interactive", "interactive-tenant", "service-principal", "msi", "cli"],
)
def test_authentication_header_is_accepted_by_the_control_plane(ws, make) -> None:  # type: ignore[no-untyped-def]
    from trainforge.core import authentication

    auth = make(authentication)
    auth_header = auth.get_authentication_header()
    assert set(auth_header) == {"Authorization"}
    assert auth_header["Authorization"].startswith("Bearer ")
    # The published-pipeline sample posts to an endpoint with this header.
    response = requests.get(
        f"{ws.service_context.address}/api/v1/workspaces/{ws.name}", headers=auth_header, timeout=30
    )
    assert response.status_code == 200, response.text
    forged = requests.get(
        f"{ws.service_context.address}/api/v1/workspaces/{ws.name}",
        headers={"Authorization": "Bearer not-the-token"},
        timeout=30,
    )
    assert forged.status_code == 401


def test_arguments_given_as_one_string_are_split_as_a_shell_would(
    experiment: Experiment, project: Path
) -> None:
    write(project, "train.py", ARGV)
    src = ScriptRunConfig(
        source_directory=str(project), script="train.py", arguments="--lr 0.3 --name 'a b'"
    )
    run = experiment.submit(src)
    assert run.wait_for_completion()["status"] == "Completed"
    assert argv_of(run) == ["--lr", "0.3", "--name", "a b"]


WHICH_PYTHON = """
    import json, os, sys
    import torch  # in the run's environment, not in the machine's python
    print("python " + json.dumps({"executable": sys.executable, "argv": sys.argv[1:]}))
"""


def test_command_runs_in_a_shell_with_the_environments_python_first_on_path(
    experiment: Experiment, project: Path
) -> None:
    write(project, "train.py", WHICH_PYTHON)
    src = ScriptRunConfig(
        source_directory=str(project),
        command=["python", "train.py", "--rank", "$NODE_RANK", "&&", "echo", "after it"],
    )
    run = experiment.submit(src)
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    assert details["status"] == "Completed", log
    line = next(line for line in log.splitlines() if line.startswith("python "))
    seen = json.loads(line[7:])
    assert Path(seen["executable"]).parent == Path(sys.executable).parent
    assert seen["argv"] == ["--rank", "0"]
    assert "after it" in log  # the list is one shell command line, as the SDK runs it


def test_command_given_as_a_string_runs_in_a_shell(experiment: Experiment, project: Path) -> None:
    write(project, "train.py", ARGV)
    run = experiment.submit(
        ScriptRunConfig(str(project), command="python train.py --x 1 | tr a-z A-Z")
    )
    assert run.wait_for_completion()["status"] == "Completed"
    log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    assert 'ARGV ["--X", "1"]' in log


DATA_READER = """
    import pathlib, sys
    print("read " + pathlib.Path(sys.argv[1], "a.txt").read_text())
"""


def test_data_references_inside_a_command_are_resolved(
    ws,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = tmp_path / "data"
    source.mkdir()
    (source / "a.txt").write_text("hello from the datastore")
    datastore = ws.get_default_datastore()
    prefix = f"cmd-{uuid.uuid4().hex[:8]}"
    datastore.upload(str(source), target_path=prefix, show_progress=False)
    write(project, "read.py", DATA_READER)
    src = ScriptRunConfig(
        str(project), command=["python", "read.py", datastore.path(prefix).as_mount()]
    )
    run = experiment.submit(src)
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    assert details["status"] == "Completed", log
    assert "read hello from the datastore" in log


# The public TF parameter-server sample's coordination: worker 0 writes
# outputs/MNIST/complete.txt when it is done, the other tasks wait for that file.


def test_print_run_is_readable_at_100_columns(experiment: Experiment, project: Path) -> None:
    write(project, "train.py", ARGV)
    run = experiment.submit(ScriptRunConfig(str(project), "train.py"))
    text = str(run)
    # The studio link goes whole on one line, so it can be copied or clicked; every other
    # line fits 100 columns.
    link = run.get_portal_url()
    assert any(line.strip().endswith(link) for line in text.splitlines()), text
    assert max(len(line) for line in text.splitlines() if link not in line) <= 100, text
    assert run.id in text and experiment.name in text
    html = run._repr_html_()
    assert run.id in html and run.get_portal_url() in html
    assert repr(run).startswith("Run(")
    run.wait_for_completion()


def test_script_and_command_together_are_refused_as_the_sdk_refuses_them(
    experiment: Experiment, project: Path
) -> None:
    """Azure ML: "Both command and script/argument properties cannot be used together to
    submit a run" (a UserErrorException at submit)."""
    from trainforge.exceptions import UserErrorException

    write(project, "train.py", ARGV)
    both = ScriptRunConfig(str(project), script="train.py", command=["python", "train.py"])
    with pytest.raises(UserErrorException, match="command") as refused:
        experiment.submit(both)
    assert "script" in refused.value.message
    with_arguments = ScriptRunConfig(str(project), arguments=["--x", 1], command="ls")
    with pytest.raises(UserErrorException, match="arguments"):
        experiment.submit(with_arguments)
    assert list(experiment.get_runs()) == []  # nothing was submitted


def test_hyperdrive_on_a_command_appends_the_sampled_parameters(
    experiment: Experiment, project: Path
) -> None:
    """A sweep of a command-based ScriptRunConfig: each trial's command line ends with its
    sampled hyperparameters as ``--name value``, as Azure ML passes them."""
    from trainforge.train.hyperdrive import (
        GridParameterSampling,
        HyperDriveConfig,
        PrimaryMetricGoal,
        choice,
    )

    write(
        project,
        "train.py",
        """
        import argparse, json, sys
        from trainforge.core import Run
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--lr", type=float)
        args = parser.parse_args()
        print("ARGV " + json.dumps(sys.argv[1:]))
        Run.get_context().log("accuracy", args.lr * args.epochs)
        """,
    )
    src = ScriptRunConfig(str(project), command=["python", "train.py", "--epochs", "2"])
    sweep = experiment.submit(
        HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=GridParameterSampling({"lr": choice(0.1, 0.3)}),
            primary_metric_name="accuracy",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=2,
            max_concurrent_runs=2,
        )
    )
    assert sweep.wait_for_completion()["status"] == "Completed"
    children = list(sweep.get_children())
    assert len(children) == 2
    seen = {}
    for child in children:
        assert child.get_status() == "Completed"
        log = child.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
        argv = json.loads(next(s for s in log.splitlines() if s.startswith("ARGV "))[5:])
        seen[argv[-1]] = (argv, child.get_metrics()["accuracy"])
    assert seen == {
        "0.1": (["--epochs", "2", "--lr", "0.1"], pytest.approx(0.2)),
        "0.3": (["--epochs", "2", "--lr", "0.3"], pytest.approx(0.6)),
    }
