"""RunDetails, the notebook widget of the seed's monitoring section:
``from trainforge.widgets import RunDetails; RunDetails(run).show()``.

Its data (``get_widget_data()``) and its text view outside Jupyter on real runs of the
session's server; the widget itself in a real Jupyter kernel (nbclient runs the seed's
notebook) and in JupyterLab driven by headless Chromium, with a screenshot."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, artifact
from tests.helpers import wait_until
from tests.sweeps import CURVE, submit_ceiling_sweep
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.runconfig import PyTorchConfiguration
from trainforge.widgets import RunDetails
from trainforge.widgets.run_details import REFRESH_ENV, next_interval

WIDGET_DATA_KEYS = {
    "status",
    "workbench_run_details_uri",
    "run_id",
    "run_properties",
    "child_runs",
    "children_metrics",
    "run_metrics",
    "run_logs",
    "graph",
    "widget_settings",
}
# Two ranks: each prints to its own log, rank 0 logs a series, a scalar, a table (whose
# name holds HTML, which every view must escape) and an image, then both go on a while so
# that a widget shown at once sees the run live before it ends.
TRAIN = """
    import os, time
    from trainforge.core import Run

    run = Run.get_context()
    rank = os.environ["RANK"]
    print(f"hello from rank {rank}", flush=True)
    if rank == "0":
        for i in range(8):
            run.log("loss", 1.0 / (i + 1))
        run.log("learning rate", 0.01)
        run.log_row("per epoch <b>", epoch=1, accuracy=0.8)
        run.log_row("per epoch <b>", epoch=2, accuracy=0.9)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot([0, 1, 4, 9])
        run.log_image("curve", plot=plt)
        run.flush()
    time.sleep(float(os.environ.get("LINGER", "0")))
    print(f"training done on rank {rank}", flush=True)
"""
RANK_LOGS = ["azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"]


@pytest.fixture
def fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widgets refresh every second (a kernel this test starts inherits the variable)."""
    monkeypatch.setenv(REFRESH_ENV, "1")


def _two_ranks(project: Path, linger: float = 0.0) -> ScriptRunConfig:
    (project / "train.py").write_text(textwrap.dedent(TRAIN))
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    config.run_config.environment.environment_variables["LINGER"] = str(linger)
    return config


def test_the_2018_import_path_gives_the_same_widget() -> None:
    from trainforge.train.widgets import RunDetails as RunDetails2018

    assert RunDetails2018 is RunDetails


def test_refresh_starts_at_5_s_backs_off_to_60_s_and_the_override_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(REFRESH_ENV, raising=False)
    waits = [next_interval(None, changed=True, multirun=False)]
    for _ in range(12):
        waits.append(next_interval(waits[-1], changed=False, multirun=False))
    assert waits[0] == 5.0
    assert waits == sorted(waits) and waits[-1] == 60.0
    assert next_interval(60.0, changed=True, multirun=False) == 5.0  # news: quick again
    assert next_interval(None, changed=True, multirun=True) == 20.0  # a sweep's many runs
    monkeypatch.setenv(REFRESH_ENV, "2")
    assert next_interval(30.0, changed=False, multirun=True) == 2.0
    monkeypatch.setenv(REFRESH_ENV, "soon")  # not a number: ignored
    assert next_interval(None, changed=True, multirun=False) == 5.0


def test_widget_data_of_a_distributed_run(experiment: Experiment, project: Path) -> None:
    run = experiment.submit(_two_ranks(project))
    run.wait_for_completion()
    data = RunDetails(run).get_widget_data()

    assert set(data) == WIDGET_DATA_KEYS
    assert (data["status"], data["run_id"]) == ("Completed", run.id)
    assert data["workbench_run_details_uri"] == run.get_portal_url()
    props = data["run_properties"]
    assert (props["status"], props["target"], props["script_name"]) == (
        "Completed",
        "local",
        "train.py",
    )
    assert props["start_time_utc"] and props["end_time_utc"] and props["run_duration"]
    assert props["log_files"] == RANK_LOGS
    # Rank 0's log is the one shown first.
    assert props["selected_log"] == RANK_LOGS[0]
    assert "hello from rank 0" in data["run_logs"] and "rank 1" not in data["run_logs"]
    metrics = {m["name"]: m for m in data["run_metrics"]}
    assert metrics["loss"]["type"] == "series"
    assert metrics["loss"]["series"][0]["data"] == [1.0 / (i + 1) for i in range(8)]
    assert metrics["loss"]["categories"] == list(range(8))
    assert metrics["learning rate"]["type"] == "scalar"
    assert metrics["per epoch <b>"] == {
        "name": "per epoch <b>",
        "run_id": run.id,
        "type": "table",
        "columns": {"epoch": [1, 2], "accuracy": [0.8, 0.9]},
    }
    assert metrics["curve"]["type"] == "image"
    assert metrics["curve"]["files"][0] in run.get_file_names()
    assert data["child_runs"] == [] and data["graph"] == {}
    assert RunDetails(run).get_widget_data({"debug": True})["widget_settings"] == {"debug": True}


def test_show_outside_jupyter_prints_the_studio_link_and_a_summary(
    experiment: Experiment, project: Path
) -> None:
    run = experiment.submit(_two_ranks(project))
    run.wait_for_completion()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        RunDetails(run).show()
    text = printed.getvalue()
    assert f"Run {run.id}: Completed" in text
    assert f"Web View: {run.get_portal_url()}" in text
    assert "loss: 8 values, last 0.125" in text
    assert "learning rate: 0.01" in text
    assert "per epoch <b>: table of 2 rows: epoch, accuracy" in text
    assert f"Log {RANK_LOGS[0]}" in text and "training done on rank 0" in text


def test_widget_data_of_a_hyperdrive_run(experiment: Experiment, project: Path) -> None:
    sweep = submit_ceiling_sweep(experiment, project)
    sweep.wait_for_completion()
    details = RunDetails(sweep)
    data = details.get_widget_data()

    assert data["status"] == "Completed"
    assert data["run_properties"]["run_type"] == "hyperdrive"
    children = data["child_runs"]
    by_ceiling = {c["hyperparameters"]["--ceiling"]: c for c in children}
    assert sorted(by_ceiling) == [0.3, 0.5, 0.9]
    for ceiling, child in by_ceiling.items():
        assert child["status"] == "Completed"
        assert child["metric_name"] == "accuracy"
        assert child["best_metric"] == pytest.approx(ceiling)
    assert {c["run_id"] for c in children} == {c.id for c in sweep.get_children()}
    over_time = data["children_metrics"]
    assert over_time["metricName"] == "accuracy"
    curves = {c["run_id"]: c["data"] for c in over_time["series"]["accuracy"]}
    for child in children:
        ceiling = child["hyperparameters"]["--ceiling"]
        assert curves[child["run_id"]] == pytest.approx([ceiling * n / 3 for n in (1, 2, 3)])
    assert over_time["best_so_far"][-1] == pytest.approx(0.9)
    assert data["run_properties"]["selected_log"] == "azureml-logs/hyperdrive.txt"

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        details.show()
    assert "Child runs (3)" in printed.getvalue()
    assert "{'--ceiling': 0.9}  best: 0.9" in printed.getvalue()


# -- the widget in Jupyter ----------------------------------------------------------------
# The last cell: the widget shows the run's end once its refresh loop has seen it.
WAIT_FOR_WIDGETS = """\
import threading
for thread in threading.enumerate():
    if thread.name.startswith("RunDetails"):
        thread.join(120)"""


def _notebook(cells: list[str]) -> Any:
    """A Python 3 notebook of ``cells`` (dedented), then the cell that waits for widgets."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(textwrap.dedent(code)) for code in [*cells, WAIT_FOR_WIDGETS]
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    return notebook


def _seed_notebook(experiment: Experiment, project: Path) -> Any:
    """The seed's monitoring section as a notebook: submit, RunDetails(run).show(), wait."""
    _two_ranks(project)  # writes train.py; the notebook builds its own config
    cells = [
        f"""\
        from trainforge.core import Experiment, ScriptRunConfig, Workspace
        from trainforge.core.runconfig import PyTorchConfiguration

        ws = Workspace.get({experiment.workspace.name!r})
        experiment = Experiment(workspace=ws, name={experiment.name!r})
        src = ScriptRunConfig(
            source_directory={str(project)!r},
            script="train.py",
            distributed_job_config=PyTorchConfiguration(process_count=2),
        )
        src.run_config.environment.environment_variables["LINGER"] = "4"
        run = experiment.submit(src)
        print(run.get_status())""",
        """\
        from trainforge.widgets import RunDetails
        RunDetails(run).show()""",
        "run.wait_for_completion(show_output=True)",
    ]
    return _notebook(cells)


def _widget_states(notebook: Any) -> list[dict[str, Any]]:
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    return list(saved["state"].values())


def test_the_seed_notebook_shows_a_live_widget_in_a_jupyter_kernel(
    experiment: Experiment, project: Path, fast_refresh: None
) -> None:
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    notebook = _seed_notebook(experiment, project)
    nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(project)}},
    ).execute()

    submitted, shown, waited, _ = notebook.cells
    # The widget was shown while the run was still going.
    assert submitted.outputs[0]["text"].strip() in {"Queued", "Preparing", "Starting", "Running"}
    view = [
        o for o in shown.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(view) == 1, shown.outputs
    assert "Execution Summary" in "".join(o.get("text", "") for o in waited.outputs)

    states = _widget_states(notebook)
    html = [s["state"].get("value", "") for s in states if s["model_name"] == "HTMLModel"]
    # What the widget showed last: the run's end, rank 0's whole log (its last line was
    # written seconds after the widget appeared), a chart or table per metric.
    assert any("trainforge-status" in h and ">Completed<" in h for h in html)
    log = next(h for h in html if "trainforge-log" in h)
    assert "hello from rank 0" in log and "training done on rank 0" in log
    assert "rank 1" not in log
    labels = [h for h in html if "trainforge-metric" in h]
    assert any(">loss<" in h for h in labels)
    assert any("per epoch &lt;b&gt;" in h for h in labels)  # escaped, never markup
    assert not any("per epoch <b>" in h for h in html)
    assert any("learning rate</b> = 0.01" in h for h in labels)
    dropdown = next(s["state"] for s in states if s["model_name"] == "DropdownModel")
    assert dropdown["_options_labels"] == RANK_LOGS
    assert dropdown["index"] == 0
    images = [s for s in states if s["model_name"] == "ImageModel"]
    assert len(images) >= 2  # the loss chart, the logged image (and the scalar's point)
    assert all(s.get("buffers") for s in images)  # each carries its PNG


# -- the widget in JupyterLab, in a real browser -------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _jupyterlab(root: Path) -> Iterator[str]:
    """JupyterLab serving ``root`` on loopback; yields its address (token in the query).
    Stopped by pid with the kernels it started."""
    pytest.importorskip("jupyterlab")
    port, token = _free_port(), "widget-test-token"
    log = (root / "jupyterlab.log").open("wb")
    # A settings folder of its own: no prompt about fetching Jupyter's news over the widget.
    settings = root.parent / "lab-settings"
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            # The test drives the page through the app's command registry.
            "--LabApp.expose_app_in_browser=True",
            # Nothing is fetched from outside: no update checks, no news.
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)},
    )
    address = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{address}/api/status?token={token}", timeout=2):
                return True
        except OSError:
            assert process.poll() is None, (root / "jupyterlab.log").read_text()
            return False

    try:
        wait_until(up, timeout=60, what="JupyterLab to answer", interval=0.2)
        yield f"{address}/lab/tree/widget.ipynb?token={token}"
    finally:
        kernels = psutil.Process(process.pid).children(recursive=True)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for kernel in kernels:
            with contextlib.suppress(psutil.NoSuchProcess):
                kernel.kill()
        log.close()


def _colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


@contextlib.contextmanager
def _lab_notebook(
    notebook: Any, root: Path, while_running: Any = None
) -> Iterator[tuple[Any, Any, Any]]:
    """``notebook`` opened in JupyterLab in headless Chromium with all its cells started;
    yields (the page, the widget once it shows its run Completed, Playwright's ``expect``).
    Live: the widget's first view shows the run going on (``while_running(widget, expect)``
    checks it), its refreshes bring the end. No console error may name the widgets."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    nbformat = pytest.importorskip("nbformat")
    root.mkdir()
    nbformat.write(notebook, root / "widget.ipynb")
    with _jupyterlab(root) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
            page.locator(".jp-Notebook").wait_for()
            # JupyterLab may ask which kernel to start: the notebook's own, as a user picks.
            page.wait_for_function(
                "() => document.querySelector('.jp-Dialog') !== null ||"
                " [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                ".some(e => e.textContent.includes('Idle'))",
                timeout=60_000,
            )
            dialog = page.locator(".jp-Dialog")
            if dialog.count():
                dialog.get_by_role("button", name="Select").click()
            # Started, not awaited: the command's promise ends with the last cell.
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            try:
                page.locator(".trainforge-run-details").wait_for(timeout=120_000)
            except sync_api.Error:
                page.screenshot(path=str(artifact("widget-jupyterlab-failed.png")))
                raise
            widget = page.locator(".trainforge-run-details")
            if while_running is not None:
                while_running(widget, sync_api.expect)
            status = widget.locator(".trainforge-status")
            sync_api.expect(status).to_have_text("Completed", timeout=120_000)
            yield page, widget, sync_api.expect
        finally:
            browser.close()
    widget_errors = [e for e in errors if "widget" in e.lower() or "trainforge" in e.lower()]
    assert not widget_errors, widget_errors


def lab_test(test: Any) -> Any:
    """A test that starts JupyterLab, its kernel and Chromium."""
    needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is missing")
    return pytest.mark.real_process(needs_chromium(test))


@lab_test
def test_the_widget_renders_live_in_jupyterlab_and_shows_another_rank(
    experiment: Experiment, project: Path, tmp_path: Path, fast_refresh: None
) -> None:
    notebook = _seed_notebook(experiment, project)
    with _lab_notebook(notebook, tmp_path / "lab") as (page, widget, expect):
        log = widget.locator(".trainforge-log")
        expect(log).to_contain_text("training done on rank 0")
        assert "rank 1" not in log.inner_text()
        charts = widget.locator(".trainforge-metric-chart")
        expect(charts.filter(has_text="per epoch <b>")).to_have_count(1)
        expect(charts.filter(has_text="loss")).to_have_count(1)
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.trainforge-metric-chart img')]"
            ".map(i => i.complete && i.naturalWidth > 0)"
        )
        assert drawn and all(drawn), drawn
        picture = artifact("widget-jupyterlab-rank0.png")
        widget.screenshot(path=str(picture))

        # The rank selector: rank 1's log, from the same widget.
        widget.locator("select").select_option(RANK_LOGS[1])
        expect(log).to_contain_text("hello from rank 1")
        expect(log).to_contain_text("training done on rank 1")
        second = artifact("widget-jupyterlab-rank1.png")
        widget.screenshot(path=str(second))
    # A real picture (text, a table, charts), not an empty frame.
    assert _colours(picture) > 200 and _colours(second) > 200
    assert os.path.getsize(picture) > 10_000


def _hyperdrive_notebook(experiment: Experiment, project: Path) -> Any:
    """A grid sweep of three trials of the learning curve, its RunDetails shown at once."""
    (project / "train.py").write_text(textwrap.dedent(CURVE))
    cells = [
        f"""\
        from trainforge.core import Experiment, ScriptRunConfig, Workspace
        from trainforge.train.hyperdrive import (
            GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice,
        )

        ws = Workspace.get({experiment.workspace.name!r})
        experiment = Experiment(workspace=ws, name={experiment.name!r})
        src = ScriptRunConfig(
            source_directory={str(project)!r}, script="train.py",
            arguments=["--steps", 4, "--sleep", 0.3, "--linger", 0],
        )
        htc = HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=GridParameterSampling({{"--ceiling": choice(0.5, 0.9, 0.3)}}),
            primary_metric_name="accuracy",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=3,
            max_concurrent_runs=3,
        )
        htr = experiment.submit(config=htc)""",
        "from trainforge.widgets import RunDetails\nRunDetails(htr).show()",
        "htr.wait_for_completion()",
    ]
    return _notebook(cells)


def test_a_hyperdrive_widget_in_a_jupyter_kernel_shows_children_and_the_primary_metric(
    experiment: Experiment, project: Path, fast_refresh: None
) -> None:
    nbclient = pytest.importorskip("nbclient")
    notebook = _hyperdrive_notebook(experiment, project)
    nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", store_widget_state=True
    ).execute()

    states = _widget_states(notebook)
    html = [s["state"].get("value", "") for s in states if s["model_name"] == "HTMLModel"]
    assert any("HyperDrive run" in h and ">Completed<" in h for h in html)
    children = next(h for h in html if "Best accuracy" in h)
    assert "--ceiling" in children and children.count(">Completed<") == 3
    for ceiling in ("0.5", "0.9", "0.3"):
        assert f">{ceiling}<" in children
    sections = [h for h in html if "font-weight:bold;margin-top:8px" in h]
    assert any("Primary metric" in h for h in sections)
    assert any("Parallel coordinates" in h for h in sections)
    images = [s for s in states if s["model_name"] == "ImageModel" and s.get("buffers")]
    assert len(images) >= 2  # the primary metric over time, the parallel coordinates


@lab_test
def test_a_hyperdrive_widget_renders_in_jupyterlab(
    experiment: Experiment, project: Path, tmp_path: Path, fast_refresh: None
) -> None:
    notebook = _hyperdrive_notebook(experiment, project)
    with _lab_notebook(notebook, tmp_path / "lab") as (page, widget, expect):
        expect(widget.get_by_text("Parallel coordinates")).to_be_visible()
        table = widget.locator("table").filter(has_text="Best accuracy")
        expect(table.locator("tbody tr")).to_have_count(3)
        expect(table.locator("tbody tr").filter(has_text="Completed")).to_have_count(3)
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.trainforge-run-details img')]"
            ".map(i => i.complete && i.naturalWidth > 0)"
        )
        assert len(drawn) >= 2 and all(drawn), drawn
        picture = artifact("widget-jupyterlab-hyperdrive.png")
        widget.screenshot(path=str(picture))
    assert _colours(picture) > 200


# -- pipeline runs --------------------------------------------------------------------------
# The getting-started sample's shape: a prep step (reusable) whose data a train step reads;
# train lingers so a widget shown at once sees it running.
PREP = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--output")
args = parser.parse_args()
os.makedirs(args.output, exist_ok=True)
open(os.path.join(args.output, "data.txt"), "w").write("prepared")
print("prep done")
"""
TRAIN_STEP = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--input")
parser.add_argument("--linger", type=float, default=0)
args = parser.parse_args()
print("train read", open(os.path.join(args.input, "data.txt")).read(), flush=True)
time.sleep(args.linger)
print("train done")
"""


def _pipeline_code(experiment: Experiment, project: Path, linger: float) -> str:
    """The sample notebook's cell that builds and submits the pipeline (``pipeline_run``)."""
    for name, code in (("prep", PREP), ("train", TRAIN_STEP)):
        (project / name).mkdir(exist_ok=True)
        # A step of this test's own: reused from this test's runs, never another test's.
        mark = f"# {experiment.name}\n"
        (project / name / f"{name}.py").write_text(textwrap.dedent(code) + mark)
    return f"""\
        from trainforge.core import Datastore, Experiment, Workspace
        from trainforge.pipeline.core import Pipeline, PipelineData
        from trainforge.pipeline.steps import PythonScriptStep

        ws = Workspace.get({experiment.workspace.name!r})
        def_blob_store = Datastore(ws, "workspaceblobstore")
        prepared = PipelineData("prepared", datastore=def_blob_store, is_directory=True)
        step1 = PythonScriptStep(
            name="prep", script_name="prep.py", arguments=["--output", prepared],
            outputs=[prepared], compute_target="local",
            source_directory={str(project / "prep")!r}, allow_reuse=True,
        )
        step2 = PythonScriptStep(
            name="train", script_name="train.py",
            arguments=["--input", prepared, "--linger", {linger!r}],
            inputs=[prepared], compute_target="local",
            source_directory={str(project / "train")!r}, allow_reuse=False,
        )
        pipeline1 = Pipeline(workspace=ws, steps=[step2])
        pipeline_run = Experiment(ws, {experiment.name!r}).submit(
            pipeline1, regenerate_outputs=False
        )"""


def _submit_pipeline(experiment: Experiment, project: Path, linger: float = 0.0) -> Any:
    scope: dict[str, Any] = {}
    exec(textwrap.dedent(_pipeline_code(experiment, project, linger)), scope)  # noqa: S102
    return scope["pipeline_run"]


def test_widget_data_of_a_pipeline_run_shows_its_graph_steps_and_reuse(
    experiment: Experiment, project: Path
) -> None:
    first = _submit_pipeline(experiment, project)
    assert first.wait_for_completion() == "Completed"
    again = _submit_pipeline(experiment, project)
    assert again.wait_for_completion() == "Completed"
    details = RunDetails(again)
    data = details.get_widget_data()

    assert set(data) == WIDGET_DATA_KEYS
    assert data["status"] == "Completed"
    assert data["run_properties"]["run_type"] == "azureml.PipelineRun"
    earlier = {s.name: s.id for s in first.get_steps()}
    steps = {s["name"]: s for s in data["child_runs"]}
    assert [s["name"] for s in data["child_runs"]] == ["prep", "train"]  # by depth
    assert (steps["prep"]["depth"], steps["train"]["depth"]) == (0, 1)
    assert steps["prep"]["reused"] and steps["prep"]["reused_run_id"] == earlier["prep"]
    assert not steps["train"]["reused"] and steps["train"]["reused_run_id"] is None
    assert {s["run_id"] for s in steps.values()} == {s.id for s in again.get_steps()}
    for step in steps.values():
        assert step["status"] == "Completed" and step["duration"] is not None
    graph = data["graph"]
    assert set(graph) == {"module_nodes", "datasource_nodes", "edges", "child_runs"}
    assert graph["edges"] == [{"source_node_id": "prep", "target_node_id": "train"}]
    assert graph["module_nodes"]["prep"]["reused_run_id"] == earlier["prep"]
    assert graph["module_nodes"]["train"]["status"] == "Completed"

    # A widget of many runs: it refreshes as a sweep's does (20 s, backing off to 60 s).
    assert details._data.multirun
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        details.show()
    text = printed.getvalue()
    assert "Steps (2)" in text and f"reused {earlier['prep']}" in text


def _pipeline_notebook(experiment: Experiment, project: Path) -> Any:
    """The getting-started notebook: submit, ``RunDetails(pipeline_run).show()``, wait."""
    cells = [
        _pipeline_code(experiment, project, linger=4.0),
        "from trainforge.widgets import RunDetails\nRunDetails(pipeline_run).show()",
        "pipeline_run.wait_for_completion(show_output=True)",
    ]
    return _notebook(cells)


def test_a_pipeline_widget_in_a_jupyter_kernel_shows_the_step_graph_and_table(
    experiment: Experiment, project: Path, fast_refresh: None
) -> None:
    nbclient = pytest.importorskip("nbclient")
    first = _submit_pipeline(experiment, project)  # so that prep is reused in the notebook
    assert first.wait_for_completion() == "Completed"
    notebook = _pipeline_notebook(experiment, project)
    nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", store_widget_state=True
    ).execute()

    states = _widget_states(notebook)
    html = [s["state"].get("value", "") for s in states if s["model_name"] == "HTMLModel"]
    assert any("Pipeline run" in h and ">Completed<" in h for h in html)
    svg = next(h for h in html if "trainforge-pipeline-graph" in h)
    assert "data-step='prep' data-status='Completed' data-reused='true'" in svg
    assert "data-step='train' data-status='Completed' data-reused='false'" in svg
    assert "data-source='prep' data-target='train'" in svg
    table = next(h for h in html if "trainforge-steps" in h)
    assert table.count(">Completed<") == 2
    assert f"reused {first.find_step_run('prep')[0].id}" in table
    log = next(h for h in html if "trainforge-log" in h)
    assert "StepRun( train ) Status: Completed" in log


@lab_test
def test_a_pipeline_widget_renders_live_in_jupyterlab(
    experiment: Experiment, project: Path, tmp_path: Path, fast_refresh: None
) -> None:
    first = _submit_pipeline(experiment, project)
    assert first.wait_for_completion() == "Completed"
    notebook = _pipeline_notebook(experiment, project)

    def train_runs(widget: Any, expect: Any) -> None:
        # Live: the graph shows train running (it lingers) after prep was reused.
        running = widget.locator("g.trainforge-step[data-step='train'][data-status='Running']")
        expect(running).to_have_count(1, timeout=60_000)
        expect(widget.locator("g[data-step='prep'][data-reused='true']")).to_have_count(1)

    with _lab_notebook(notebook, tmp_path / "lab", train_runs) as (page, widget, expect):
        graph = widget.locator("svg.trainforge-pipeline-graph")
        expect(graph).to_be_visible()
        steps = graph.locator("g.trainforge-step")
        expect(steps).to_have_count(2)
        expect(graph.locator("g[data-step='train'][data-status='Completed']")).to_have_count(1)
        expect(graph.locator("g[data-step='prep'][data-reused='true']")).to_have_count(1)
        expect(graph.locator("path.trainforge-edge")).to_have_count(1)
        # Laid out by depth: train to the right of prep.
        prep, train = (
            graph.locator(f"g[data-step='{n}']").bounding_box() for n in ("prep", "train")
        )
        assert prep is not None and train is not None and train["x"] > prep["x"] + prep["width"]
        table = widget.locator("table.trainforge-steps")
        expect(table.locator("tbody tr")).to_have_count(2)
        expect(table.locator("tbody tr").filter(has_text="reused")).to_have_count(1)
        picture = artifact("widget-jupyterlab-pipeline.png")
        widget.screenshot(path=str(picture))
    assert _colours(picture) > 200


# -- AutoML runs ----------------------------------------------------------------------------
def _automl_code(experiment: Experiment, project: Path) -> str:
    """The AutoML classification sample's cells: config on iris, submit (``automl_run``)."""
    return f"""\
        from sklearn.datasets import load_iris
        from trainforge.core import Experiment, Workspace
        from trainforge.train.automl import AutoMLConfig

        ws = Workspace.get({experiment.workspace.name!r})
        frame = load_iris(as_frame=True).frame
        automl_config = AutoMLConfig(
            task="classification",
            primary_metric="accuracy",
            training_data=frame,
            label_column_name="target",
            iterations=3,
            n_cross_validations=2,
            enable_voting_ensemble=False,
            allowed_models=["LogisticRegression", "KNN", "RandomForest"],
        )
        experiment = Experiment(ws, {experiment.name!r})
        automl_run = experiment.submit(automl_config, show_output=False)"""


def _submit_automl(experiment: Experiment, project: Path) -> Any:
    scope: dict[str, Any] = {}
    exec(textwrap.dedent(_automl_code(experiment, project)), scope)  # noqa: S102
    return scope["automl_run"]


@pytest.mark.slow
def test_widget_data_of_an_automl_run_shows_iterations_and_the_best_so_far(
    experiment: Experiment, project: Path
) -> None:
    automl_run = _submit_automl(experiment, project)
    automl_run.wait_for_completion()
    details = RunDetails(automl_run)
    data = details.get_widget_data()

    assert set(data) == WIDGET_DATA_KEYS
    assert data["status"] == "Completed"
    assert data["run_properties"]["run_type"] == "automl"
    rows = data["child_runs"]
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert [r["run_id"] for r in rows] == [f"{automl_run.id}_{i}" for i in range(3)]
    scores = [automl_run.get_output(iteration=i)[0].get_metrics()["accuracy"] for i in range(3)]
    for row, score in zip(rows, scores, strict=True):
        assert row["metric_name"] == "accuracy" and row["status"] == "Completed"
        assert row["metric"] == pytest.approx(score)
        assert row["pipeline"].startswith("ColumnTransformer ") and row["duration"]
    assert [r["best"] for r in rows] == pytest.approx([max(scores[: i + 1]) for i in range(3)])
    best_run, _ = automl_run.get_output()
    assert [r["run_id"] for r in rows if r["is_best"]] == [best_run.id]
    chart = data["children_metrics"]
    assert chart["metricName"] == "accuracy" and chart["goal"] == "maximize"
    assert chart["iterations"] == [0, 1, 2]
    assert chart["best_so_far"] == pytest.approx([r["best"] for r in rows])
    assert set(chart["series"]) >= {"accuracy", "AUC_weighted"}  # every metric, to pick
    assert data["graph"] == {}
    # The AutoML run's own log: what the control plane decided, iteration by iteration.
    assert data["run_properties"]["selected_log"] == "azureml-logs/automl.txt"
    assert "AutoML run completed" in data["run_logs"]

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        details.show()
    text = printed.getvalue()
    assert "ITERATION" in text and "PIPELINE" in text and "BEST" in text
    assert f"{max(scores):.4f}" in text


def _automl_notebook(experiment: Experiment, project: Path) -> Any:
    cells = [
        _automl_code(experiment, project),
        "from trainforge.widgets import RunDetails\nRunDetails(automl_run).show()",
        "automl_run.wait_for_completion(show_output=True)",
    ]
    return _notebook(cells)


@pytest.mark.slow
def test_an_automl_widget_in_a_jupyter_kernel_shows_the_iterations_and_metric_chart(
    experiment: Experiment, project: Path, fast_refresh: None
) -> None:
    nbclient = pytest.importorskip("nbclient")
    notebook = _automl_notebook(experiment, project)
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", store_widget_state=True
    ).execute()

    _, _, waited, _ = notebook.cells
    assert "ITERATION" in "".join(o.get("text", "") for o in waited.outputs)
    states = _widget_states(notebook)
    html = [s["state"].get("value", "") for s in states if s["model_name"] == "HTMLModel"]
    assert any("AutoML run" in h and ">Completed<" in h for h in html)
    table = next(h for h in html if "trainforge-iterations" in h)
    for header in ("ITERATION", "PIPELINE", "DURATION", "METRIC", "BEST"):
        assert f">{header}<" in table
    assert table.count(">Completed<") == 3
    sections = [h for h in html if "font-weight:bold;margin-top:8px" in h]
    assert any("Iterations" in h for h in sections)
    assert any("Primary metric" in h for h in sections)
    images = [s for s in states if s["model_name"] == "ImageModel" and s.get("buffers")]
    assert len(images) >= 1  # the primary metric over iterations
    log = next(h for h in html if "trainforge-log" in h)
    assert "AutoML run completed" in log
    # The chart's metric selector: the primary metric first, then every other one logged.
    selectors = [s["state"] for s in states if s["model_name"] == "DropdownModel"]
    metric = next(s for s in selectors if s.get("description") == "Metric")
    assert metric["_options_labels"][0] == "accuracy" and metric["index"] == 0
    assert {"log_loss", "AUC_weighted"} <= set(metric["_options_labels"])


@lab_test
def test_an_automl_widget_renders_in_jupyterlab(
    experiment: Experiment, project: Path, tmp_path: Path, fast_refresh: None
) -> None:
    notebook = _automl_notebook(experiment, project)
    with _lab_notebook(notebook, tmp_path / "lab") as (page, widget, expect):
        table = widget.locator("table.trainforge-iterations")
        expect(table.locator("tbody tr")).to_have_count(3)
        expect(table.locator("tbody tr").filter(has_text="Completed")).to_have_count(3)
        expect(table.locator("tbody tr").filter(has_text="\u2605")).to_have_count(1)
        expect(widget.get_by_text("Primary metric")).to_be_visible()
        chart = widget.locator("img")
        expect(chart).to_have_count(1)
        primary = chart.get_attribute("src")
        # Another metric from the selector: the chart is drawn again for it.
        selector = widget.locator(".widget-dropdown").filter(has_text="Metric").locator("select")
        selector.select_option("log_loss")
        expect(chart).not_to_have_attribute("src", primary or "")
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.trainforge-run-details img')]"
            ".map(i => i.complete && i.naturalWidth > 0)"
        )
        assert drawn and all(drawn), drawn
        picture = artifact("widget-jupyterlab-automl.png")
        widget.screenshot(path=str(picture))
    assert _colours(picture) > 200
