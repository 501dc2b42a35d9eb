"""Chart data for a big metric: one run holding a metric of 1,000,000 points (``step``
0 .. N-1, a spike every 100,000 steps), written straight into the store in bulk (logging
them through ``run.log`` would measure logging, see bench_metrics.py).

Measured (p50 and p90 of R requests after one warm-up, over the wire through the typed
client):
  * the chart's request for the whole series (``metric_series?points=1000``): downsampled
    in SQL to a min and a max per bucket; every spike must be in the answer;
  * a zoomed range of 50,000 steps (still downsampled) and one of 500 steps (exact: every
    point of the range);
and, when Playwright and Debian's Chromium are installed, the time from opening the run's
studio page (signed in) until its chart has drawn, headless (p50 of a few loads).
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Row, progress, quiet_call, timed, trainforge_home

METRIC = "loss"
POINTS = 1000
SPIKE = 100_000
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def sizes(quick: bool) -> dict[str, int]:
    return (
        {"n": 100_000, "repeats": 10, "loads": 2}
        if quick
        else {"n": 1_000_000, "repeats": 20, "loads": 3}
    )


def _value(step: int) -> float:
    return 1000.0 if step % SPIKE == SPIKE // 2 else 1.0 + math.sin(step / 1000) / 2


def generate(home: Path, run: Any, n: int) -> float:
    """Insert ``n`` points of ``METRIC`` into the run's store in bulk; seconds taken."""
    from sqlalchemy import func, insert

    from trainforge.server.store import models
    from trainforge.server.store.database import make_engine

    engine = make_engine(f"sqlite:///{home / 'trainforge.db'}")
    began = time.perf_counter()
    with engine.begin() as db:
        ws_id = db.scalar(
            models.Workspace.__table__.select()
            .with_only_columns(models.Workspace.id)
            .where(models.Workspace.name == run.experiment.workspace.name)
        )
        for chunk in range(0, n, 50_000):
            db.execute(
                insert(models.Metric),
                [
                    {
                        "workspace_id": ws_id,
                        "run_id": run.id,
                        "name": METRIC,
                        "kind": "scalar",
                        "step": step,
                        "value": _value(step),
                        "description": "",
                        "time": 1_767_225_600.0 + step * 0.01,
                        "attempt": 1,
                    }
                    for step in range(chunk, min(n, chunk + 50_000))
                ],
            )
        # The last value, as each batch keeps it (what the run page lists).
        last_id = db.scalar(
            models.Metric.__table__.select()
            .with_only_columns(func.max(models.Metric.id))
            .where(models.Metric.run_id == run.id)
        )
        db.execute(
            insert(models.MetricLastValue).values(
                workspace_id=ws_id,
                run_id=run.id,
                name=METRIC,
                metric_id=last_id,
                value=_value(n - 1),
                number=_value(n - 1),
            )
        )
    engine.dispose()
    return time.perf_counter() - began


def _sample(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    ordered = sorted(timed(fn)[0] for _ in range(repeats))
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def _browser_draw_s(home: Path, url: str, loads: int) -> list[float] | None:
    """Seconds from opening the run page until its chart has drawn, per load; None when
    Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    from typer.testing import CliRunner

    from trainforge.cli.main import app

    printed = CliRunner().invoke(app, ["studio", "--no-browser", "--home", str(home)])
    link = printed.stdout.strip()
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(link)
            page.get_by_role("heading", name="Workspaces").wait_for()
            for _ in range(loads):
                page.goto("about:blank")
                start = time.perf_counter()
                page.goto(url)
                page.locator(f'.chart[data-metric="{METRIC}"][data-state="drawn"]').wait_for()
                times.append(time.perf_counter() - start)
                page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    return times


def measure(n: int, repeats: int, loads: int) -> dict[str, Any]:
    from trainforge.client.api import api
    from trainforge.client.api.runs import RunsApi
    from trainforge.core import Experiment, Workspace

    with trainforge_home("charts") as home:
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        run = Experiment(ws, "bench").start_logging(snapshot_directory=None)
        run.complete()
        progress(f"charts: generating {n:,} points of one metric")
        generate_s = generate(home, run, n)
        runs = api(ws, RunsApi)
        whole = runs.metric_series(run.id, METRIC, points=POINTS)
        spikes = sum(1 for v in whole["points"]["value"] if v == 1000.0)
        if whole["count"] != n or len(whole["points"]["x"]) > POINTS or spikes != n // SPIKE:
            raise RuntimeError(
                f"the downsampled series lost points: {spikes} spikes of {n // SPIKE}"
            )
        exact = runs.metric_series(run.id, METRIC, points=POINTS, x_min=1000, x_max=1499)
        if exact["downsampled"] or exact["points"]["x"] != list(range(1000, 1500)):
            raise RuntimeError("a 500-step range is not exact")
        if exact["points"]["value"] != [_value(s) for s in range(1000, 1500)]:
            raise RuntimeError("a 500-step range has other values")
        progress("charts: timing the chart data requests")
        result = {
            "generate_s": generate_s,
            "whole": _sample(lambda: runs.metric_series(run.id, METRIC, points=POINTS), repeats),
            "zoom_50k": _sample(
                lambda: runs.metric_series(
                    run.id, METRIC, points=POINTS, x_min=n // 2, x_max=n // 2 + 49_999
                ),
                repeats,
            ),
            "zoom_500": _sample(
                lambda: runs.metric_series(run.id, METRIC, points=POINTS, x_min=1000, x_max=1499),
                repeats,
            ),
        }
        progress("charts: timing the studio page in headless Chromium")
        result["draw_s"] = _browser_draw_s(home, run.get_portal_url(), loads)
        return result


def run(quick: bool = False) -> list[Row]:
    size = sizes(quick)
    n = size["n"]
    found = measure(n, size["repeats"], size["loads"])
    rows = [
        Row(
            f"chart data, metric of {n:,} points, whole series (p50)",
            found["whole"][0],
            None,
            "s",
            f"downsampled to <= {POINTS} points (min/max a bucket), every spike kept; "
            f"p90 {found['whole'][1]:.3f} s",
            higher_is_better=False,
            extra=found,
        ),
        Row(
            "chart data, zoomed to 50,000 steps (p50)",
            found["zoom_50k"][0],
            None,
            "s",
            f"downsampled; p90 {found['zoom_50k'][1]:.3f} s",
            higher_is_better=False,
        ),
        Row(
            "chart data, zoomed to 500 steps, exact (p50)",
            found["zoom_500"][0],
            None,
            "s",
            f"every point of the range; p90 {found['zoom_500'][1]:.3f} s",
            higher_is_better=False,
        ),
    ]
    draws = found["draw_s"]
    if draws:
        rows.append(
            Row(
                f"studio run page until its chart of {n:,} points has drawn (p50)",
                statistics.median(draws),
                None,
                "s",
                f"headless Chromium, {len(draws)} loads: " + ", ".join(f"{d:.2f}" for d in draws),
                higher_is_better=False,
            )
        )
    progress(f"charts done (generated in {found['generate_s']:.1f} s)")
    return rows
