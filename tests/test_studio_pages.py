"""The studio's pages beyond the runs table, in a real browser (Debian's Chromium driven by
Playwright, signed in as ``trainforge studio`` does it): a run's files (tree, preview,
download), its children and parent, its error with the traceback; a HyperDrive sweep's
trials; a pipeline's step graph; compute, data and model pages. Every name shown is
escaped, an unknown id gets a page that says so, and no page throws a console error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_studio_browser as studio
from tests.browser import artifact
from tests.sweeps import submit_ceiling_sweep

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = studio.pytestmark

# The browser and a signed-in page, as the other studio tests have them.
browser = studio.browser
console_errors = studio.console_errors
fresh_page = studio.fresh_page
page = studio.page

NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (Not Found)"

WRITES_FILES_AND_FAILS = """
import os
os.makedirs("outputs/notes", exist_ok=True)
with open("outputs/notes/hello <b>.txt", "w") as f:
    f.write("<b>not bold</b>\\nsecond line\\n")
with open("outputs/big.log", "w") as f:
    f.write("x" * 100_000)
with open("outputs/model.bin", "wb") as f:
    f.write(bytes(range(256)) * 4)
print("files written", flush=True)
raise ValueError("bad <value>")
"""


def _url(ws, path: str) -> str:  # type: ignore[no-untyped-def]
    return str(ws.service_context.studio_url(f"workspaces/{ws.name}/{path}"))


def test_the_run_page_shows_files_with_preview_and_download_and_the_traceback(  # type: ignore[no-untyped-def]
    experiment, project, page
) -> None:
    from trainforge.core import ScriptRunConfig

    (project / "train.py").write_text(WRITES_FILES_AND_FAILS)
    run = experiment.submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    page.goto(run.get_portal_url())
    page.get_by_role("heading", name=f"Run {run.id}").wait_for()
    sync_api.expect(page.locator("#error-message")).to_contain_text("UserError")
    traceback = page.locator("#traceback")
    sync_api.expect(traceback).to_contain_text("ValueError: bad <value>")
    sync_api.expect(traceback).to_contain_text('train.py", line 11, in <module>')

    # The tree: folders open on a click; a text file shows escaped, its first bytes only.
    tree = page.locator("#file-tree")
    tree.locator("summary", has_text="outputs/").click()
    tree.locator("summary", has_text="notes/").click()
    tree.get_by_role("link", name="hello <b>.txt", exact=True).click()
    sync_api.expect(page.locator("#preview-name")).to_have_text("outputs/notes/hello <b>.txt")
    sync_api.expect(page.locator("#preview-text")).to_have_text("<b>not bold</b>\nsecond line\n")
    assert page.locator("#preview b").count() == 0  # text, not markup
    sync_api.expect(page.locator("#preview-note")).to_have_text("28 B, all of it")
    tree.get_by_role("link", name="big.log", exact=True).click()
    sync_api.expect(page.locator("#preview-note")).to_have_text("The first 64 KB of 98 KB")
    assert len(page.locator("#preview-text").inner_text()) == 64 * 1024
    tree.get_by_role("link", name="model.bin", exact=True).click()
    sync_api.expect(page.locator("#preview-note")).to_contain_text("binary data")
    page.screenshot(path=str(artifact("studio-run-files.png")), full_page=True)

    with page.expect_download() as download:
        tree.get_by_role("link", name="download outputs/notes/hello <b>.txt", exact=True).click()
    assert download.value.suggested_filename == "hello _b_.txt"  # as Chromium saves it
    assert Path(download.value.path()).read_text() == "<b>not bold</b>\nsecond line\n"
    # Logs are files too.
    tree.locator("summary", has_text="azureml-logs/").click()
    tree.get_by_role("link", name="70_driver_log.txt", exact=True).click()
    sync_api.expect(page.locator("#preview-text")).to_contain_text("files written")


def test_child_runs_link_to_their_parent_and_back(experiment, page) -> None:  # type: ignore[no-untyped-def]
    parent = experiment.start_logging(snapshot_directory=None)
    first = parent.child_run(name="first <child>")
    first.complete()
    second = parent.child_run()
    second.fail()
    parent.complete()
    page.goto(parent.get_portal_url())
    page.get_by_role("heading", name="Child runs").wait_for()
    rows = page.locator("#children tr")
    sync_api.expect(rows).to_have_count(3)
    sync_api.expect(rows.nth(1)).to_contain_text("first <child>")
    sync_api.expect(rows.nth(2)).to_contain_text("Failed")
    page.get_by_role("link", name=first.id, exact=True).click()
    page.get_by_role("heading", name=f"Run {first.id}").wait_for()
    page.locator("#parent-link").click()
    page.get_by_role("heading", name=f"Run {parent.id}").wait_for()


def test_an_unknown_run_or_workspace_gets_a_page_that_says_so(ws, page, console_errors) -> None:  # type: ignore[no-untyped-def]
    page.goto(_url(ws, "runs/no-such-run<i>"))
    page.get_by_role("heading", name="Not found").wait_for()
    sync_api.expect(page.locator("#problem")).to_contain_text("no-such-run<i>")
    assert page.locator("#problem i").count() == 0
    page.goto(str(ws.service_context.studio_url("workspaces/no-such-ws/experiments")))
    page.get_by_role("heading", name="Not found").wait_for()
    sync_api.expect(page.locator("#problem")).to_contain_text("no-such-ws")
    while NOT_FOUND in console_errors:  # the refused requests the pages show
        console_errors.remove(NOT_FOUND)


def test_the_hyperdrive_page_shows_trials_the_best_and_the_primary_metric_over_time(  # type: ignore[no-untyped-def]
    experiment, project, page
) -> None:
    sweep = submit_ceiling_sweep(experiment, project)
    page.goto(sweep.get_portal_url())  # while it runs: the page follows it to the end
    page.get_by_role("heading", name="HyperDrive").wait_for()
    sweep.wait_for_completion()
    summary = page.locator("#sweep-summary")
    sync_api.expect(summary).to_contain_text("3 of 3 trials", timeout=60_000)
    sync_api.expect(summary).to_contain_text("Best:")
    sync_api.expect(summary).to_contain_text("with 0.9")
    rows = page.locator("#trials tr")
    sync_api.expect(rows).to_have_count(4)
    sync_api.expect(page.locator("#trials th").nth(3)).to_have_text("--ceiling")
    sync_api.expect(page.locator("#trials td", has_text="Completed")).to_have_count(3)
    best = page.locator("#trials tr.best")
    sync_api.expect(best).to_have_count(1)
    sync_api.expect(best).to_contain_text("★ best")
    sync_api.expect(best.locator("td").nth(3)).to_have_text("0.9")
    by_ceiling = {}
    for trial in sweep.get_children():
        by_ceiling[trial.get_details()["runDefinition"]["arguments"][-1]] = trial.id
    sync_api.expect(best.locator("td").nth(2)).to_have_text(by_ceiling["0.9"])
    page.locator("#sweep-plot canvas").wait_for()
    # uPlot's legend: one series per trial.
    sync_api.expect(page.locator("#sweep-chart .u-legend .u-series")).to_have_count(4)
    sync_api.expect(page.locator("#parallel polyline.trial-line")).to_have_count(3)
    page.get_by_role("link", name=by_ceiling["0.5"], exact=True).first.click()
    page.get_by_role("heading", name=f"Run {by_ceiling['0.5']}").wait_for()
    sync_api.expect(page.locator("#parent-link")).to_have_text(sweep.id)
    page.go_back()
    page.locator("#sweep-plot canvas").wait_for()
    page.screenshot(path=str(artifact("studio-hyperdrive.png")), full_page=True)


PREPARE = """
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
open(os.path.join(sys.argv[1], "data.txt"), "w").write("prepared")
"""
TRAIN = """
import sys, time
time.sleep(float(sys.argv[2]))
print(open(sys.argv[1] + "/data.txt").read())
"""


def test_the_pipeline_page_draws_the_step_graph_with_live_states_and_marks_reuse(  # type: ignore[no-untyped-def]
    ws, tmp_path, page
) -> None:
    import uuid

    from tests.test_pipelines import write
    from trainforge.pipeline.core import Pipeline, PipelineData
    from trainforge.pipeline.steps import PythonScriptStep

    def pipeline() -> Pipeline:
        data = PipelineData("prepared")
        prepare = PythonScriptStep(
            "prepare.py",
            name="prepare <data>",
            arguments=[data],
            outputs=[data],
            source_directory=write(tmp_path / "prepare", "prepare.py", PREPARE),
        )
        train = PythonScriptStep(
            "train.py",
            name="train",
            arguments=[data, 5],  # long enough for a refresh to see it run
            inputs=[data],
            source_directory=write(tmp_path / "train", "train.py", TRAIN),
        )
        return Pipeline(ws, [prepare, train])

    name = f"studio-pipeline-{uuid.uuid4().hex[:6]}"
    first = pipeline().submit(name)
    page.goto(first.get_portal_url())
    page.get_by_role("heading", name="Pipeline steps").wait_for()
    graph = page.locator("#step-graph")
    steps = graph.locator("g.step")
    sync_api.expect(steps).to_have_count(2)
    sync_api.expect(graph.locator("path.edge")).to_have_count(1)
    edge = graph.locator("path.edge")
    assert (
        edge.get_attribute("data-from") == "prepare <data>"
        and edge.get_attribute("data-to") == "train"
    )
    train = graph.locator('g.step[data-step="train"]')
    # Live: the page follows the steps to the end without a reload.
    sync_api.expect(train).to_have_attribute("data-status", "Running", timeout=60_000)
    sync_api.expect(train).to_have_attribute("data-status", "Completed", timeout=60_000)
    sync_api.expect(graph.locator('g.step[data-step="prepare <data>"]')).to_have_attribute(
        "data-status", "Completed"
    )
    assert first.wait_for_completion(show_output=False) == "Completed"
    sync_api.expect(page.locator("#steps td", has_text="Completed")).to_have_count(2)
    assert graph.locator("g.step text", has_text="prepare <data>").count() == 1  # escaped
    page.screenshot(path=str(artifact("studio-pipeline.png")), full_page=True)

    # The same pipeline again: both steps reused, marked on the graph and in the table.
    second = pipeline().submit(name)
    assert second.wait_for_completion(show_output=False) == "Completed"
    page.goto(second.get_portal_url())
    page.get_by_role("heading", name="Pipeline steps").wait_for()
    sync_api.expect(page.locator('#step-graph g.step[data-reused="yes"]')).to_have_count(2)
    sync_api.expect(page.locator("#step-graph")).to_contain_text("♻ reused")
    earlier = {step.name: step.id for step in first.get_steps()}
    reused = page.locator("#steps tr", has_text="train").locator("td").nth(5)
    sync_api.expect(reused).to_have_text(f"♻ {earlier['train']}")
    page.screenshot(path=str(artifact("studio-pipeline-reused.png")), full_page=True)
    page.locator('#step-graph g.step[data-step="train"]').click()  # a step opens its run
    page.locator("#parent-link").wait_for()
    sync_api.expect(page.locator("#parent-link")).to_have_text(second.id)


def test_the_compute_page_shows_node_states_and_the_queue(  # type: ignore[no-untyped-def]
    ws, experiment, project, clusters, page
) -> None:
    from trainforge.core import ScriptRunConfig

    cluster = clusters(max_nodes=1)
    (project / "train.py").write_text("import time\nprint('busy', flush=True)\ntime.sleep(120)\n")
    busy = experiment.submit(ScriptRunConfig(str(project), "train.py", compute_target=cluster))
    waiting = experiment.submit(ScriptRunConfig(str(project), "train.py", compute_target=cluster))
    try:
        page.goto(_url(ws, "computes"))
        page.get_by_role("heading", name=f"Compute of {ws.name}").wait_for()
        row = page.locator("#clusters tr", has_text=cluster.name)
        sync_api.expect(row.locator("td").nth(4)).to_have_text("0-1")
        # Live: the node comes up and takes the first run; the second waits in the queue.
        sync_api.expect(row.locator("td").nth(7)).to_have_text("1", timeout=60_000)  # running
        sync_api.expect(row.locator("td").nth(12)).to_have_text("1")  # queued runs
        page.screenshot(path=str(artifact("studio-computes.png")), full_page=True)
        row.get_by_role("link", name=cluster.name).click()
        page.get_by_role("heading", name=f"Cluster {cluster.name}").wait_for()
        sync_api.expect(page.locator("#queue")).to_contain_text(waiting.id)
        sync_api.expect(page.locator("#running")).to_contain_text(busy.id)
        nodes = page.locator("#nodes tr").filter(has=page.locator("td"))
        sync_api.expect(nodes).to_have_count(1)
        sync_api.expect(nodes.first).to_contain_text("running")
        sync_api.expect(nodes.first).to_contain_text(busy.id)
        page.screenshot(path=str(artifact("studio-cluster.png")), full_page=True)
    finally:
        waiting.cancel()
        busy.cancel()
    sync_api.expect(page.locator("#queue")).to_contain_text("No run waits", timeout=60_000)


def test_datastores_datasets_and_models_pages(ws, tmp_path, page, console_errors) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from trainforge.core import Dataset, Model

    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "upload"
    (source / "images").mkdir(parents=True)
    (source / "images" / "<b>cat.txt").write_text("meow")
    (source / "labels.csv").write_text("a,b\n1,2\n")
    store = ws.get_default_datastore()
    store.upload(str(source), target_path=f"studio-{tag}", show_progress=False)
    Dataset.File.from_files((store, f"studio-{tag}")).register(ws, f"files-{tag}")
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"model")
    for _ in range(2):
        Model.register(ws, str(model_file), f"model-{tag}", tags={"team": "<vision>"})

    page.goto(_url(ws, "datastores"))
    page.get_by_role("heading", name=f"Datastores of {ws.name}").wait_for()
    sync_api.expect(page.locator("#datastores tr", has_text=store.name)).to_contain_text("default")
    page.get_by_role("link", name=store.name, exact=True).click()
    page.get_by_role("heading", name=f"Datastore {store.name}").wait_for()
    page.get_by_role("link", name=f"studio-{tag}/").click()
    sync_api.expect(page.locator("#crumbs")).to_contain_text(f"studio-{tag}")
    entries = page.locator("#entries tr").filter(has=page.locator("td"))
    sync_api.expect(entries).to_have_count(2)
    sync_api.expect(entries.nth(0)).to_contain_text("images/")  # folders first
    sync_api.expect(entries.nth(1)).to_contain_text("labels.csv")
    page.get_by_role("link", name="images/").click()
    sync_api.expect(entries).to_have_count(1)
    sync_api.expect(entries.first.locator("td").first).to_have_text("<b>cat.txt")
    sync_api.expect(entries.first).to_contain_text("4 B")
    page.screenshot(path=str(artifact("studio-datastore.png")), full_page=True)
    page.locator("#crumbs").get_by_role("link", name=store.name).click()
    page.get_by_role("link", name=f"studio-{tag}/").wait_for()

    page.get_by_role("link", name="Datasets", exact=True).click()
    page.get_by_role("heading", name=f"Datasets of {ws.name}").wait_for()
    dataset = page.locator("#datasets tr", has_text=f"files-{tag}")
    sync_api.expect(dataset).to_contain_text("File")
    dataset.get_by_role("link").click()  # its path opens the datastore's folder
    page.get_by_role("link", name="images/").wait_for()

    page.get_by_role("link", name="Models", exact=True).click()
    page.get_by_role("heading", name=f"Models of {ws.name}").wait_for()
    model = page.locator("#models tr", has_text=f"model-{tag}")
    sync_api.expect(model.locator("td").nth(1)).to_have_text("2, 1")
    sync_api.expect(model).to_contain_text("team=<vision>")
    page.screenshot(path=str(artifact("studio-models.png")), full_page=True)
    page.get_by_role("link", name="Endpoints", exact=True).click()
    page.get_by_role("heading", name=f"Endpoints of {ws.name}").wait_for()

    # A path that leaves the datastore, a datastore that is not there: pages that say so.
    page.goto(_url(ws, f"datastores/{store.name}?prefix=../../etc"))
    page.get_by_role("heading", name="Bad request").wait_for()
    sync_api.expect(page.locator("#problem")).to_contain_text("prefix")
    page.goto(_url(ws, "datastores/no_such_store"))
    page.get_by_role("heading", name="Not found").wait_for()
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    for expected in (refused, NOT_FOUND):
        while expected in console_errors:
            console_errors.remove(expected)


def test_selected_runs_compare_side_by_side_and_charts_take_log_scale_and_smoothing(  # type: ignore[no-untyped-def]
    experiment, page
) -> None:
    made = []
    for lr in (0.1, 0.01):
        run = experiment.start_logging(snapshot_directory=None)
        run.tag("lr", str(lr))
        for i in range(20):
            run.log("loss <x>", lr * 10 / (i + 1))
        run.log("final", lr)
        run.complete()
        made.append(run)
    workspace = experiment.workspace
    page.goto(_url(workspace, f"experiments/{experiment.name}"))
    button = page.get_by_role("button", name="Compare selected")
    sync_api.expect(button).to_be_disabled()
    for run in made:
        page.get_by_role("checkbox", name=f"compare {run.id}").check()
    sync_api.expect(button).to_be_enabled()
    button.click()
    page.get_by_role("heading", name="Compare 2 runs").wait_for()
    compared = page.locator("#compare-table")
    sync_api.expect(compared.locator("tr", has_text="tag lr")).to_contain_text("0.1")
    sync_api.expect(compared.locator("tr", has_text="tag lr")).to_contain_text("0.01")
    sync_api.expect(compared.locator("tr", has_text="metric final")).to_contain_text("0.01")
    overlaid = page.locator('.chart[data-metric="loss <x>"]')
    overlaid.locator("canvas").wait_for()
    sync_api.expect(overlaid.locator(".u-legend .u-series")).to_have_count(3)  # x and two runs
    page.screenshot(path=str(artifact("studio-compare.png")), full_page=True)
    compared.get_by_role("link", name=made[0].id).click()

    page.get_by_role("heading", name=f"Run {made[0].id}").wait_for()
    loss = page.locator('.chart[data-metric="loss <x>"]')
    loss.locator("canvas").wait_for()
    sync_api.expect(loss).to_have_attribute("data-scale", "linear")
    page.get_by_label("log scale").check()
    sync_api.expect(loss).to_have_attribute("data-scale", "log")
    page.locator("#smoothing").fill("0.6")
    sync_api.expect(page.locator("#smoothing-value")).to_have_text("0.6")
    sync_api.expect(loss.locator(".u-legend .u-series")).to_have_count(3)
    sync_api.expect(loss.locator(".u-legend")).to_contain_text("loss <x> (smoothed)")
    page.screenshot(path=str(artifact("studio-run-chart-log-smoothed.png")), full_page=True)


def test_the_environments_pages_list_them_and_show_a_versions_spec(
    ws, page, console_errors
) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from trainforge.core import Environment
    from trainforge.core.conda_dependencies import CondaDependencies

    name = f"env-{uuid.uuid4().hex[:8]}"
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["numpy=1.26"], pip_packages=["requests==2.31.0"]
    )
    env.environment_variables = {"MODE": "<b>fast</b>"}
    env.register(ws)
    env.python.conda_dependencies.add_pip_package("tqdm")
    env.register(ws)  # a second version, one pip package more

    page.goto(_url(ws, "environments"))
    page.get_by_role("heading", name=f"Environments of {ws.name}").wait_for()
    row = page.locator("#environments tr", has_text=name)
    sync_api.expect(row.locator("td").nth(1)).to_have_text("2")
    sync_api.expect(row).to_contain_text("pip packages")
    row.get_by_role("link", name=name).click()
    page.get_by_role("heading", name=f"Environment {name}").wait_for()
    sync_api.expect(page.locator("#versions tr").filter(has=page.locator("td"))).to_have_count(2)
    sync_api.expect(page.locator("#pip-packages li")).to_contain_text(["requests==2.31.0", "tqdm"])
    sync_api.expect(page.locator("#conda-packages")).to_contain_text("numpy=1.26")
    sync_api.expect(page.locator("#environment-variables")).to_have_text("MODE=<b>fast</b>")
    assert page.locator("#view b").count() == 0  # escaped
    page.screenshot(path=str(artifact("studio-environment.png")), full_page=True)
    page.get_by_role("link", name="1", exact=True).click()  # the first version
    page.get_by_role("heading", name="Version 1").wait_for()
    sync_api.expect(page.locator("#pip-packages li")).to_have_count(1)

    page.goto(_url(ws, "environments/no-such-env"))
    page.get_by_role("heading", name="Not found").wait_for()
    sync_api.expect(page.locator("#problem")).to_contain_text("no-such-env")
    page.goto(_url(ws, f"environments/{name}?version=9"))
    page.get_by_role("heading", name="Not found").wait_for()
    while NOT_FOUND in console_errors:
        console_errors.remove(NOT_FOUND)
