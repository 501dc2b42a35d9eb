"""The studio in a real browser (Chromium from Debian, driven by Playwright): `trainforge
studio`'s one-time link signs the browser in, the links the SDK prints (no token in them)
then open the run, the sign-in box keeps the token in an HttpOnly cookie that survives a
restart of the server, and sign-out ends it."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, artifact
from tests.helpers import restart_server
from trainforge.cli.main import app

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = [
    pytest.mark.real_process,  # Chromium, and the session's server
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is missing (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    """What the page wrote to the console as errors; a test takes out those it expects."""
    return []


@pytest.fixture
def fresh_page(browser: sync_api.Browser, console_errors: list[str]) -> Iterator[sync_api.Page]:
    """A page in a browser profile of its own: nobody signed in yet."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    errors = console_errors
    try:
        opened = context.new_page()
        opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        opened.on("pageerror", lambda e: errors.append(str(e)))
        yield opened
    finally:
        context.close()
    assert not errors, errors  # no page of the studio throws


def studio_link(home: Path) -> str:
    """What ``trainforge studio`` prints: a one-time link that signs a browser in."""
    printed = CliRunner().invoke(app, ["studio", "--no-browser", "--home", str(home)])
    assert printed.exit_code == 0, printed.output
    return str(printed.stdout.strip())


@pytest.fixture
def page(fresh_page: sync_api.Page, tf_home: Path) -> sync_api.Page:
    """A browser signed in as ``trainforge studio`` does it."""
    fresh_page.goto(studio_link(tf_home))
    fresh_page.get_by_role("heading", name="Workspaces").wait_for()
    return fresh_page


def _submit(experiment, project: Path):  # type: ignore[no-untyped-def]
    from trainforge.core import ScriptRunConfig

    (project / "train.py").write_text(
        "from trainforge.core import Run\n"
        "run = Run.get_context()\n"
        "run.log('accuracy', 0.93)\n"
        "print('hello from the studio test')\n"
    )
    return experiment.submit(ScriptRunConfig(str(project), "train.py"))


def test_the_link_wait_for_completion_prints_opens_the_run(experiment, project, page) -> None:  # type: ignore[no-untyped-def]
    run = _submit(experiment, project)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run.wait_for_completion(show_output=True)
    links = [
        line.split(":", 1)[1].strip()
        for line in printed.getvalue().splitlines()
        if line.startswith("Web View:")
    ]
    assert links and links[0] == run.get_portal_url(), printed.getvalue()

    assert "token" not in links[0]  # a printed link never carries a token
    page.goto(links[0])  # what a user clicks in the notebook's output, signed in once
    page.get_by_role("heading", name=f"Run {run.id}").wait_for()
    assert page.locator("#login").is_hidden()
    assert page.get_by_text("Completed", exact=True).first.is_visible()
    assert page.get_by_role("cell", name="accuracy").is_visible()
    page.get_by_text("hello from the studio test").wait_for()


def test_the_sign_in_box_keeps_the_token_in_a_cookie_the_page_cannot_read(  # type: ignore[no-untyped-def]
    tf_home: Path, ws, fresh_page, console_errors
) -> None:
    from trainforge.schemas.server_state import read_state

    page = fresh_page
    page.goto(ws.service_context.studio_url(""))  # a bookmark, not signed in: the sign-in box
    sign_in = page.locator("#login")
    sign_in.wait_for()
    page.locator("#token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.locator("#login-error")).to_contain_text("not a token of this server")
    console_errors.clear()  # the refused sign-in's 401, which the box shows
    token = read_state(tf_home).token  # type: ignore[union-attr]
    page.locator("#token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Workspaces").wait_for()
    assert sign_in.is_hidden()
    assert "trainforge_studio" not in page.evaluate("document.cookie")  # HttpOnly
    assert token not in page.evaluate("JSON.stringify(Object.entries(localStorage))")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "trainforge_studio"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("link", name=ws.name).click()
    page.get_by_role("heading", name=f"Runs of {ws.name}").wait_for()
    # The table's own request must be answered before the server goes, or the browser
    # reports its reset connection as a console error.
    page.wait_for_load_state("networkidle")

    restart_server(tf_home)
    page.reload()  # same port, same token: the browser's cookie still signs it in
    page.get_by_role("heading", name=f"Runs of {ws.name}").wait_for()
    assert sign_in.is_hidden()
    page.get_by_role("button", name="Sign out").click()
    sign_in.wait_for()


TWO_RANKS = """
import os
from trainforge.core import Run
run = Run.get_context()
rank = os.environ["RANK"]
if rank == "0":
    for i in range(30):
        run.log("loss <i>", 1.0 / (i + 1))
    run.log("lr", 0.01)
print(f"hello from rank {rank}", flush=True)
"""


def test_the_run_page_draws_a_chart_per_metric_and_shows_every_ranks_log(  # type: ignore[no-untyped-def]
    experiment, project, page
) -> None:
    from trainforge.core import ScriptRunConfig
    from trainforge.core.runconfig import PyTorchConfiguration

    (project / "train.py").write_text(TWO_RANKS)
    run = experiment.submit(
        ScriptRunConfig(
            str(project), "train.py", distributed_job_config=PyTorchConfiguration(process_count=2)
        )
    )
    run.wait_for_completion()
    page.goto(run.get_portal_url())
    page.get_by_role("heading", name=f"Run {run.id}").wait_for()
    # A chart per metric (uPlot, served by the server itself), its name escaped.
    chart = page.locator(".chart").filter(has=page.get_by_role("heading", name="loss <i>"))
    chart.locator("canvas").wait_for()
    assert page.locator(".chart canvas").count() == 2
    assert page.get_by_role("cell", name="30 values, last 0.03333333333333333").is_visible()
    log = page.locator("#log")
    sync_api.expect(log).to_have_text("hello from rank 0\n")
    page.locator("#log-select").select_option("azureml-logs/70_driver_log_1.txt")
    sync_api.expect(log).to_have_text("hello from rank 1\n")
    page.screenshot(path=str(artifact("studio-run-page.png")), full_page=True)


def test_a_running_run_shows_new_metrics_and_its_end_without_a_reload(experiment, page) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    page.goto(run.get_portal_url())
    page.get_by_text("Running", exact=True).first.wait_for()
    run.log("live", 1.0)
    run.log("live", 2.0)
    run.flush()
    page.locator('.chart[data-metric="live"] canvas').wait_for()
    run.complete()
    page.get_by_text("Completed", exact=True).first.wait_for()


def test_the_runs_table_pages_and_filters(experiment, page, console_errors) -> None:  # type: ignore[no-untyped-def]
    made = []
    for i in range(105):
        run = experiment.start_logging(snapshot_directory=None)
        run.tag("team", "b" if i % 10 == 0 else "a")
        if i % 7 == 0:
            run.fail()
        else:
            run.complete()
        made.append(run)
    workspace = experiment.workspace
    page.goto(
        workspace.service_context.studio_url(
            f"workspaces/{workspace.name}/experiments/{experiment.name}"
        )
    )
    page.get_by_role("heading", name=f"Runs of {workspace.name} / {experiment.name}").wait_for()
    # The experiments list links back to this table.
    page.get_by_role("link", name=f"Experiments of {workspace.name}").click()
    page.get_by_role("heading", name=f"Experiments of {workspace.name}").wait_for()
    page.get_by_role("link", name=experiment.name, exact=True).click()
    page.get_by_role("heading", name=f"Runs of {workspace.name} / {experiment.name}").wait_for()
    rows = page.locator("table tr").filter(has=page.locator("td"))
    sync_api.expect(rows).to_have_count(100)
    assert rows.first.locator("td").first.inner_text() == made[-1].id  # newest first
    page.get_by_role("link", name="Next page").click()
    sync_api.expect(rows).to_have_count(5)
    assert rows.last.locator("td").first.inner_text() == made[0].id
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="oldest first").click()  # sorted the other way, page 1
    sync_api.expect(rows).to_have_count(100)
    assert rows.first.locator("td").first.inner_text() == made[0].id
    page.get_by_role("link", name="newest first").click()
    sync_api.expect(rows.first.locator("td").first).to_have_text(made[-1].id)

    page.locator("#status-filter").select_option("Failed")
    page.locator("#tag-filter").fill("team=b")
    page.get_by_role("button", name="Filter").click()
    failed_b = [r.id for i, r in enumerate(made) if i % 7 == 0 and i % 10 == 0][::-1]
    sync_api.expect(rows).to_have_count(len(failed_b))
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(len(failed_b))] == failed_b
    page.screenshot(path=str(artifact("studio-runs-filtered.png")), full_page=True)

    # A cursor the server never gave: the page says so (no stack trace).
    page.goto(page.url.split("?")[0] + "?cursor=forged")
    page.get_by_text("cursor: not a cursor this server gave").wait_for()
    # The browser logs the refused request; nothing else may have gone wrong.
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    console_errors.remove(refused)


def test_the_cancel_button_cancels_a_running_script(experiment, project, page) -> None:  # type: ignore[no-untyped-def]
    from trainforge.core import ScriptRunConfig

    (project / "train.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    )
    run = experiment.submit(ScriptRunConfig(str(project), "train.py"))
    page.goto(run.get_portal_url())
    page.locator("#log").get_by_text("started").wait_for()  # the script runs
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_text("Canceled", exact=True).first.wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Cancel run").count() == 0
    assert run.get_status() == "Canceled"


def _scored(experiment, accuracy: float, stage: str, end: bool = True, **tags: str):  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    run.add_properties({"stage": stage})
    for name, value in tags.items():
        run.tag(name, value)
    run.log("accuracy", accuracy / 2)
    run.log("accuracy", accuracy)  # the last value is the one filtered on and shown
    if end:
        run.complete()
    else:
        run.flush()
    return run


def test_the_runs_table_filters_by_metric_and_property_and_shows_chosen_columns(  # type: ignore[no-untyped-def]
    experiment, page, console_errors
) -> None:
    low = _scored(experiment, 0.5, "dev")
    prod = _scored(experiment, 0.95, "prod", team="<b>vision</b>")
    high = _scored(experiment, 0.97, "dev")
    workspace = experiment.workspace
    table_url = workspace.service_context.studio_url(
        f"workspaces/{workspace.name}/experiments/{experiment.name}"
    )
    page.goto(table_url)
    rows = page.locator("#runs-body table tr").filter(has=page.locator("td"))
    sync_api.expect(rows).to_have_count(3)

    page.locator("#where-filter").fill("metrics.accuracy > 0.9 and properties.stage = dev")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first.locator("td").first).to_have_text(high.id)
    assert "filter=metrics.accuracy" in page.url  # bookmarkable

    # Chosen columns: a metric's last value, a property, a tag with HTML in it (escaped).
    for column in ("metrics.accuracy", "properties.stage", "tags.team"):
        page.locator("#column-add").fill(column)
        page.get_by_role("button", name="Add column").click()
        page.locator("#runs-body th", has_text=column).wait_for()
    cells = rows.first.locator("td")
    sync_api.expect(cells.nth(8)).to_have_text("0.97")
    sync_api.expect(cells.nth(9)).to_have_text("dev")
    page.locator("#column-add").fill("accuracy")
    page.get_by_role("button", name="Add column").click()
    sync_api.expect(page.locator("#column-error")).to_contain_text("metrics.NAME, tags.KEY")

    # The columns are the browser's: a new visit without the filter shows them again.
    page.goto(table_url)
    sync_api.expect(rows).to_have_count(3)
    headers = page.locator("#runs-body th")
    sync_api.expect(headers.nth(8)).to_have_text("metrics.accuracy")
    by_id = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i) for i in range(3)}
    sync_api.expect(by_id[low.id].locator("td").nth(8)).to_have_text("0.5")
    sync_api.expect(by_id[prod.id].locator("td").nth(10)).to_have_text("<b>vision</b>")
    assert page.locator("#runs-body b").count() == 0
    page.screenshot(path=str(artifact("studio-runs-columns.png")), full_page=True)
    page.get_by_role("button", name="remove column properties.stage").click()
    sync_api.expect(page.locator("#runs-body th", has_text="properties.stage")).to_have_count(0)
    saved = page.evaluate(f"localStorage.getItem('trainforge.studio.columns.{workspace.name}')")
    assert saved == '["metrics.accuracy","tags.team"]'

    # A malformed filter: the server's message above the table, the filter kept to fix.
    page.locator("#where-filter").fill("accuracy > 0.9")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("filter: 'accuracy' at character 0").wait_for()
    sync_api.expect(page.locator("#where-filter")).to_have_value("accuracy > 0.9")
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    console_errors.remove(refused)


def test_the_runs_table_sorts_by_the_header_clicked(experiment, page) -> None:  # type: ignore[no-untyped-def]
    low = _scored(experiment, 0.5, "dev")
    high = _scored(experiment, 0.97, "dev")
    middle = _scored(experiment, 0.8, "prod")
    silent = experiment.start_logging(snapshot_directory=None)  # no accuracy: last either way
    silent.complete()
    workspace = experiment.workspace
    page.goto(
        workspace.service_context.studio_url(
            f"workspaces/{workspace.name}/experiments/{experiment.name}"
        )
    )
    rows = page.locator("#runs-body table tr").filter(has=page.locator("td"))
    sync_api.expect(rows).to_have_count(4)
    page.locator("#column-add").fill("metrics.accuracy")
    page.get_by_role("button", name="Add column").click()
    header = page.locator("#runs-body th", has_text="metrics.accuracy")
    sync_api.expect(header).to_have_attribute("aria-sort", "none")
    # Newest first until asked: the created column says so.
    created = page.locator("#runs-body th", has_text="created")
    sync_api.expect(created).to_have_attribute("aria-sort", "descending")

    def shown() -> list[str]:
        return [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]

    header.get_by_role("link").click()
    sync_api.expect(header).to_have_attribute("aria-sort", "ascending")
    sync_api.expect(header).to_have_text("metrics.accuracy ▲")
    assert shown() == [low.id, middle.id, high.id, silent.id]
    assert "order_by=metrics.%60accuracy%60+asc" in page.url  # kept in the address
    sync_api.expect(created).to_have_attribute("aria-sort", "none")
    page.locator("#runs-body th", has_text="metrics.accuracy").get_by_role("link").click()
    sync_api.expect(header).to_have_text("metrics.accuracy ▼")
    assert shown() == [high.id, middle.id, low.id, silent.id]
    page.reload()  # the address keeps the order
    sync_api.expect(header).to_have_attribute("aria-sort", "descending")
    assert shown() == [high.id, middle.id, low.id, silent.id]
    page.screenshot(path=str(artifact("studio-runs-sorted.png")), full_page=True)
    # A filter keeps the sort; another header sorts by its column, within the filter.
    page.locator("#where-filter").fill("metrics.accuracy > 0.6 or metrics.accuracy < 0")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(rows).to_have_count(2)
    sync_api.expect(header).to_have_attribute("aria-sort", "descending")
    assert shown() == [high.id, middle.id]
    page.locator("#runs-body th", has_text="status").get_by_role("link").click()
    sync_api.expect(page.locator("#runs-body th", has_text="status")).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert sorted(shown()) == sorted([high.id, middle.id])
    assert "filter=metrics.accuracy" in page.url
    page.get_by_role("link", name="newest first").click()  # back to the listing's own order
    sync_api.expect(created).to_have_attribute("aria-sort", "descending")
    assert shown() == [middle.id, high.id]


def test_the_runs_table_and_the_run_page_refresh_themselves_when_asked(  # type: ignore[no-untyped-def]
    experiment, page
) -> None:
    first = _scored(experiment, 0.95, "dev")
    workspace = experiment.workspace
    base = f"workspaces/{workspace.name}/experiments/{experiment.name}"
    page.goto(workspace.service_context.studio_url(base) + "?filter=metrics.accuracy+%3E+0.9")
    rows = page.locator("#runs-body table tr").filter(has=page.locator("td"))
    sync_api.expect(rows).to_have_count(1)
    view = page.locator("#view")
    sync_api.expect(view).to_have_attribute("data-refresh", "off")  # the table waits to be asked
    page.get_by_label(f"compare {first.id}").check()

    page.get_by_label("auto-refresh every 3 s").check()
    sync_api.expect(view).to_have_attribute("data-refresh", "scheduled")
    passes = int(page.locator("#runs-body").get_attribute("data-passes") or "0")
    below = _scored(experiment, 0.1, "dev")  # made first, filtered out
    above = _scored(experiment, 0.99, "dev")
    # The next pass asks with the same filter: the new run above it shows, the other never.
    sync_api.expect(rows).to_have_count(2)
    sync_api.expect(rows.first.locator("td").first).to_have_text(above.id)
    assert page.locator("#runs-body").get_attribute("data-passes") != str(passes)
    assert page.get_by_text(below.id).count() == 0
    sync_api.expect(page.get_by_label(f"compare {first.id}")).to_be_checked()  # picks kept
    assert "filter=metrics.accuracy" in page.url

    page.reload()  # the toggle is remembered by the browser
    sync_api.expect(page.get_by_label("auto-refresh every 3 s")).to_be_checked()
    sync_api.expect(view).to_have_attribute("data-refresh", "scheduled")
    page.get_by_label("auto-refresh every 3 s").uncheck()
    sync_api.expect(view).to_have_attribute("data-refresh", "off")

    # A running run's page follows it by default; off, it stops; on again, it catches up.
    live = _scored(experiment, 0.5, "dev", end=False)
    page.goto(live.get_portal_url())
    page.get_by_text("Running", exact=True).first.wait_for()
    toggle = page.get_by_label("auto-refresh every 3 s")
    sync_api.expect(toggle).to_be_checked()
    sync_api.expect(view).to_have_attribute("data-refresh", "scheduled")
    toggle.uncheck()
    sync_api.expect(view).to_have_attribute("data-refresh", "off")
    live.log("later", 1.0)
    live.log("later", 2.0)
    live.flush()
    assert page.locator('.chart[data-metric="later"]').count() == 0  # nothing asked since
    page.get_by_label("auto-refresh every 3 s").check()
    page.locator('.chart[data-metric="later"] canvas').wait_for()
    live.complete()
    page.get_by_text("Completed", exact=True).first.wait_for()
    sync_api.expect(view).to_have_attribute("data-refresh", "off")  # an ended run: no more


def _chart_range(chart) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    return float(chart.get_attribute("data-x-min")), float(chart.get_attribute("data-x-max"))


def test_the_run_page_charts_switch_their_x_axis_and_zoom_exactly(experiment, page) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    # 3000 points: more than a chart asks for, so the server downsamples the whole series;
    # a spike at step 2000 stays visible.
    for step in range(3000):
        run.log("big", 100.0 if step == 2000 else step / 1000, step=step)
    run.complete()
    page.goto(run.get_portal_url())
    page.get_by_text("Completed", exact=True).first.wait_for()
    chart = page.locator('.chart[data-metric="big"]')
    sync_api.expect(chart).to_have_attribute("data-state", "drawn")
    sync_api.expect(chart).to_have_attribute("data-downsampled", "true")
    assert chart.get_attribute("data-total") == "3000"
    assert int(chart.get_attribute("data-drawn") or "0") <= 1000
    lo, hi = _chart_range(chart)
    assert (lo, hi) == (0, 2999)
    assert ":" not in (chart.get_attribute("data-ticks") or "")

    # Drag across the middle half: the range narrows and is read again from the server, exact.
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    sync_api.expect(chart).to_have_attribute("data-zoomed", "yes")
    sync_api.expect(chart).to_have_attribute("data-downsampled", "false")
    zoomed = _chart_range(chart)
    assert lo < zoomed[0] < zoomed[1] < hi
    assert 1000 < zoomed[0] < 1500 and 1500 < zoomed[1] < 2000, zoomed
    page.screenshot(path=str(artifact("studio-chart-zoomed.png")), full_page=True)
    reset = chart.get_by_role("button", name="reset zoom")
    reset.click()
    sync_api.expect(chart).to_have_attribute("data-zoomed", "no")
    assert _chart_range(chart) == (lo, hi)
    sync_api.expect(reset).to_be_hidden()

    # Wall time: clock ticks; relative time: seconds since the run started.
    page.locator("#x-axis").select_option("wall")
    sync_api.expect(chart).to_have_attribute("data-axis", "wall")
    assert ":" in (chart.get_attribute("data-ticks") or "")
    assert _chart_range(chart)[0] > 1e9  # epoch seconds
    page.screenshot(path=str(artifact("studio-chart-wall-time.png")), full_page=True)
    page.locator("#x-axis").select_option("relative")
    sync_api.expect(chart).to_have_attribute("data-axis", "relative")
    ticks = (chart.get_attribute("data-ticks") or "").split()
    assert ticks and all(t.endswith("s") for t in ticks), ticks
    assert 0 <= _chart_range(chart)[0] < 3600
    page.wait_for_load_state("networkidle")
