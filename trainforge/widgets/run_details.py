"""RunDetails: the live notebook widget of a run, as ``azureml.widgets.RunDetails``."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from trainforge.client.errors import sdk_errors
from trainforge.widgets._data import WidgetData, WidgetRun

log = logging.getLogger("trainforge")
REFRESH_ENV = "AZUREML_OVERRIDE_ALL_WIDGET_REFRESH_TIME"
# Seconds between refreshes: a single run's widget starts at 5 and a widget of many runs
# (a sweep) at 20; each refresh that brings nothing new waits longer, up to 60.
FIRST_REFRESH_S = 5.0
FIRST_MULTIRUN_REFRESH_S = 20.0
MAX_REFRESH_S = 60.0
BACKOFF = 1.5
SUMMARY_LOG_LINES = 20


def refresh_override() -> float | None:
    """``AZUREML_OVERRIDE_ALL_WIDGET_REFRESH_TIME`` in seconds, when set to a number."""
    raw = os.environ.get(REFRESH_ENV)
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; it is ignored", REFRESH_ENV, raw)
        return None
    return seconds if seconds > 0 else None


def next_interval(current: float | None, changed: bool, multirun: bool) -> float:
    """The wait before the next refresh, given the last one and whether it brought news."""
    override = refresh_override()
    if override is not None:
        return override
    first = FIRST_MULTIRUN_REFRESH_S if multirun else FIRST_REFRESH_S
    if current is None or changed:
        return first
    return min(MAX_REFRESH_S, current * BACKOFF)


def in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (the notebook, JupyterLab, nbclient)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class RunDetails:
    """The run's details in a notebook: ``RunDetails(run).show()``.

    It picks its view by run type (``run.type``, else the ``azureml.runsource`` property):
    HyperDrive runs show their child runs, hyperparameters and primary metric; pipeline
    runs their step graph with each step's live state (reused steps marked) and a step
    table; AutoML runs their iteration table (ITERATION, PIPELINE, DURATION, METRIC, BEST)
    and the primary metric over iterations with the best so far; every other run (a step
    run too) its properties, live log (rank 0 first; a selector shows the other ranks')
    and a chart per metric. In Jupyter it refreshes until the run ends; elsewhere ``show()``
    prints the studio link and a text summary.
    """

    def __init__(self, run_instance: WidgetRun) -> None:
        self.run_instance = run_instance
        self._data = WidgetData(run_instance)
        self.widget_settings: dict[str, Any] = {}
        self._view: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh_interval: float | None = None

    # -- the SDK's API ------------------------------------------------------------------
    def show(self, render_lib: Any = None, widget_settings: dict[str, Any] | None = None) -> None:
        """Render the widget (in Jupyter) and refresh it until the run ends."""
        if widget_settings:
            self.widget_settings.update(widget_settings)
        self._refresh()
        if not in_jupyter():
            print(self.summary())
            return
        try:
            from IPython.display import display

            from trainforge.widgets._view import RunView
        except ImportError as exc:
            raise ImportError(
                f"RunDetails needs {exc.name} in Jupyter: pip install 'trainforge[widgets]'"
            ) from exc
        self._view = RunView(self._data)
        self._view.update()
        display(self._view.root)  # type: ignore[no-untyped-call]
        if not self._data.finished:
            self._thread = threading.Thread(
                target=self._refresh_loop, name=f"RunDetails {self._data.run_id}", daemon=True
            )
            self._thread.start()

    def get_widget_data(self, widget_settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the widget shows, as a dict: ``status``, ``workbench_run_details_uri``,
        ``run_id``, ``run_properties``, ``child_runs``, ``children_metrics``,
        ``run_metrics``, ``run_logs``, ``graph`` and ``widget_settings``."""
        settings = {**self.widget_settings, **(widget_settings or {})}
        self._refresh()
        return self._data.as_dict(settings)

    # -- refreshing ---------------------------------------------------------------------
    def _refresh(self) -> bool:
        with sdk_errors():
            return self._data.refresh()

    def _refresh_loop(self) -> None:
        """Refresh until the run has ended (then once more, so the end is shown)."""
        changed = True
        while True:
            self.refresh_interval = next_interval(
                self.refresh_interval, changed, multirun=self._data.multirun
            )
            if self._stop.wait(self.refresh_interval):
                return
            try:
                changed = self._refresh()
                if changed and self._view is not None:
                    self._view.update()
            except Exception as exc:  # the next refresh tries again; the notebook goes on
                log.warning("RunDetails: refreshing run %s failed: %s", self._data.run_id, exc)
                changed = False
            if self._data.finished:
                return

    def _wait_until_done(self, timeout: float | None = None) -> bool:
        """Block until the refresh loop has shown the run's end (for notebooks and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _close(self) -> None:
        """Stop refreshing (the widget keeps what it last showed)."""
        self._stop.set()

    # -- outside Jupyter ----------------------------------------------------------------
    def summary(self) -> str:
        """The studio link and a text summary: properties, metrics, children, log tail."""
        data = self._data
        props = data.run_properties
        lines = [
            f"Run {props.get('run_id')}: {data.status}",
            f"Web View: {data.portal_url}",
            "",
        ]
        for label, key in (
            ("Experiment", "experiment_name"),
            ("Type", "run_type"),
            ("Target", "target"),
            ("Start Time", "start_time_utc"),
            ("End Time", "end_time_utc"),
            ("Duration", "run_duration"),
            ("Script", "script_name"),
            ("Arguments", "arguments"),
        ):
            if props.get(key) not in (None, ""):
                lines.append(f"{label:<12}{props[key]}")
        error = props.get("error")
        if error:
            lines += ["", f"Error: {error['message'].strip()}"]
        metrics = data.run_metrics
        if metrics:
            lines += ["", "Metrics"]
            for entry in metrics:
                lines.append(f"  {entry['name']}: {_metric_text(entry)}")
        children = data.child_runs
        if children and data.kind == "pipeline":
            lines += ["", f"Steps ({len(children)})"]
            for step in children:
                reused = f"  reused {step['reused_run_id']}" if step["reused"] else ""
                lines.append(
                    f"  {step['name']}  {step['status']}  {step['duration'] or ''}"
                    f"  {step['run_id'] or ''}{reused}"
                )
        elif children and data.kind == "automl":
            lines += ["", f"Iterations ({len(children)})", f"  {ITERATION_HEADER}"]
            for row in children:
                lines.append(f"  {iteration_line(row)}")
        elif children:
            lines += ["", f"Child runs ({len(children)})"]
            for child in children:
                extra = ""
                if "hyperparameters" in child:
                    extra = f"  {child['hyperparameters']}  best: {child.get('best_metric')}"
                lines.append(
                    f"  {child['run_number']:>4}  {child['run_id']}  {child['status']}{extra}"
                )
        if data.selected_log:
            tail = data.run_logs.rstrip("\n").splitlines()[-SUMMARY_LOG_LINES:]
            lines += ["", f"Log {data.selected_log} (last {len(tail)} lines)", *tail]
        return "\n".join(lines)


ITERATION_HEADER = (
    f"{'ITERATION':>9}   {'PIPELINE':<45}  {'DURATION':>10}  {'METRIC':>10}  {'BEST':>8}"
)


def _score(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "nan"


def iteration_line(row: dict[str, Any]) -> str:
    """One AutoML iteration as the SDK's console table prints it."""
    pipeline = row["pipeline"]
    if row["status"] != "Completed":
        pipeline += f" ({row['status']})"
    return (
        f"{row['iteration']:>9}   {pipeline:<45}  {row['duration'] or '':>10}  "
        f"{_score(row['metric']):>10}  {_score(row['best']):>8}"
    )


def _metric_text(entry: dict[str, Any]) -> str:
    kind = entry["type"]
    if kind == "scalar":
        return str(entry["series"][0]["data"][0])
    if kind == "series":
        values = entry["series"][0]["data"]
        return f"{len(values)} values, last {values[-1]}"
    if kind == "table":
        columns = entry["columns"]
        length = max((len(c) for c in columns.values()), default=0)
        return f"table of {length} rows: {', '.join(columns)}"
    if kind == "image":
        return f"image {entry['files'][-1]}"
    return str(entry["value"])
