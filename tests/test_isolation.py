"""Two workspaces with the same names inside run side by side, with real node agents and
launchers: the same cluster, experiment, environment, dataset and source folder names."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.helpers import wait_until
from trainforge.core import Dataset, Environment, Experiment, ScriptRunConfig, Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.compute_target import ComputeTargetException

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, pathlib
    from trainforge.core import Run

    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    args = parser.parse_args()
    data = pathlib.Path(args.data)  # a one-file dataset arrives as that file
    files = [data] if data.is_file() else sorted(data.rglob("*.txt"))
    seen = {"who": os.environ["WHO"], "data": [f.read_text() for f in files]}
    Run.get_context().log("files", len(files))
    pathlib.Path("outputs").mkdir(exist_ok=True)
    pathlib.Path("outputs/seen.json").write_text(json.dumps(seen))
    """
)


def prepare(ws: Workspace, tmp_path: Path) -> ScriptRunConfig:
    """The same names in every workspace; only the contents say which workspace they are."""
    data = tmp_path / ws.name / "data"
    data.mkdir(parents=True)
    (data / "who.txt").write_text(ws.name)
    store = ws.get_default_datastore()
    store.upload_files(
        [str(data / "who.txt")], target_path="iso", overwrite=True, show_progress=False
    )
    dataset = Dataset.File.from_files((store, "iso/who.txt")).register(ws, "iso-data")
    env = Environment("iso-env")
    env.environment_variables = {"WHO": ws.name}
    env.register(ws)
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=1, idle_seconds_before_scaledown="300"
    )
    cluster = ComputeTarget.create(ws, "iso-cluster", config)
    run_config = ScriptRunConfig(
        source_directory=str(tmp_path / "src"),
        script="train.py",
        arguments=["--data", dataset.as_named_input("data").as_download()],
        compute_target=cluster,
        environment=Environment.get(ws, "iso-env"),
    )
    return run_config


def test_two_workspaces_with_the_same_names_run_side_by_side(tf_home: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(SCRIPT)
    spaces = [
        Workspace.create(name, exist_ok=True, show_output=False) for name in ("iso-a", "iso-b")
    ]
    try:
        configs = [prepare(ws, tmp_path) for ws in spaces]
        runs = [Experiment(ws, "iso-exp").submit(c) for ws, c in zip(spaces, configs, strict=True)]
        for ws, run in zip(spaces, runs, strict=True):
            details = run.wait_for_completion(show_output=False)
            assert details["status"] == "Completed", (ws.name, details.get("error"))
            run.download_file("outputs/seen.json", str(tmp_path / f"{ws.name}.json"))
            seen = json.loads((tmp_path / f"{ws.name}.json").read_text())
            assert seen == {"who": ws.name, "data": [ws.name]}
            assert run.get_metrics() == {"files": 1}
            nodes = ComputeTarget(workspace=ws, name="iso-cluster").list_nodes()
            assert [n["nodeId"] for n in nodes] == ["iso-cluster-n001"]
            assert ComputeTarget(workspace=ws, name="iso-cluster").get_status().errors is None
    finally:
        for ws in spaces:
            try:
                ComputeTarget(workspace=ws, name="iso-cluster").delete()
            except ComputeTargetException:
                pass
        for ws in spaces:  # the clusters go once their node agents have left
            wait_until(lambda w=ws: not ComputeTarget.list(w), 60, f"clusters of {ws.name} gone")
            ws.delete(delete_dependent_resources=True)
