"""What a RunDetails widget shows, gathered through the typed REST client.

``WidgetData.refresh()`` reads the run, its metrics, its logs (each log followed from the
offset where the last refresh stopped, so a huge log is never read whole), its children
and, for a HyperDrive run, its sweep; for a pipeline run, its step graph
(``GET .../runs/{id}/graph``); for an AutoML run, its iterations (``GET .../automl/{id}``).
``as_dict()`` is ``RunDetails.get_widget_data()``'s answer, with the keys of
``azureml.widgets``.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from trainforge.automl.names import goal
from trainforge.client.api import HasWorkspace, api
from trainforge.client.api.automl import AutoMLApi
from trainforge.client.api.files import FilesApi
from trainforge.client.api.pipelines import PipelinesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.sweeps import SweepsApi
from trainforge.client.log_stream import LOG_NAME, pick_log
from trainforge.schemas.automl import AutoMLInfo
from trainforge.schemas.pipelines import PipelineRunGraph
from trainforge.schemas.runs import RunInfo, RunStatus
from trainforge.schemas.sweeps import SweepInfo

HYPERDRIVE = "hyperdrive"
PIPELINE_TYPES = frozenset({"azureml.PipelineRun"})
AUTOML = "automl"
# How much of a log the widget keeps: its tail, as a notebook cell can show it.
LOG_TAIL_CHARS = 64_000
# A log longer than this is first read from this far before its end.
FIRST_READ_BYTES = 256_000
IMAGE_URL_PREFIX = "aml://artifactId/ExperimentRun/dcid."
WAITING_LOG = "Your run is submitted and we are monitoring to get logs..."
NO_LOG = "Log is empty or no log files found."


class WidgetRun(Protocol):
    """What the widget needs of a facade Run."""

    @property
    def id(self) -> str: ...

    @property
    def experiment(self) -> Any: ...

    def get_portal_url(self) -> str: ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def duration(start: datetime | None, end: datetime | None) -> str | None:
    """``H:MM:SS`` from start to end (to now while the run goes on)."""
    if start is None:
        return None
    stop = end or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if stop.tzinfo is None:
        stop = stop.replace(tzinfo=UTC)
    seconds = max(0, int((stop - start).total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def view_kind(run_type: str | None, properties: dict[str, str]) -> str:
    """The renderer a run calls for, as ``azureml.widgets`` picks it: by ``run.type``,
    else the ``azureml.runsource`` property; anything else is a script (user) run."""
    kind = run_type or properties.get("azureml.runsource")
    if kind == HYPERDRIVE:
        return "hyperdrive"
    if kind in PIPELINE_TYPES:
        return "pipeline"
    if kind == AUTOML:
        return "automl"
    return "script"


@dataclass
class LogTail:
    """One log followed from where the last read stopped; keeps its last characters."""

    name: str
    offset: int | None = None
    attempt: str | None = None
    text: str = ""
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def read(self, files: FilesApi, run_id: str, size: int) -> bool:
        """Read what was written since the last call; True if there was anything."""
        grew = False
        if self.offset is None:
            self.offset = max(0, size - FIRST_READ_BYTES)
            if self.offset:
                self.text = f"[... first {self.offset} bytes not shown ...]\n"
        while True:
            response = files.tail(run_id, self.name, self.offset, 0.0)
            attempt = response.headers.get("X-Attempt")
            if self.attempt is not None and attempt != self.attempt:
                # The run was requeued: the new attempt's log is read from its start.
                self.attempt, self.offset, self.text = attempt, 0, ""
                self.decoder.reset()
                grew = True
                continue
            self.attempt = attempt
            if not response.content:
                return grew
            self.text = (self.text + self.decoder.decode(response.content))[-LOG_TAIL_CHARS:]
            self.offset = int(response.headers["X-Next-Offset"])
            grew = True


def _metric_entry(run_id: str, name: str, value: Any) -> dict[str, Any]:
    """One logged metric as the widget draws it: a series, a table, images or a value."""
    values = value if isinstance(value, list) else [value]
    if isinstance(value, dict):
        return {"name": name, "run_id": run_id, "type": "table", "columns": value}
    if values and all(isinstance(v, str) and v.startswith(IMAGE_URL_PREFIX) for v in values):
        files = [v[len(IMAGE_URL_PREFIX) :].split("/", 1)[1] for v in values]
        return {"name": name, "run_id": run_id, "type": "image", "files": files}
    if values and all(
        isinstance(v, int | float) and not isinstance(v, bool) or v is None for v in values
    ):
        return {
            "name": name,
            "run_id": run_id,
            "type": "series" if isinstance(value, list) else "scalar",
            "categories": list(range(len(values))),
            "series": [{"data": values}],
        }
    return {"name": name, "run_id": run_id, "type": "value", "value": value}


def step_depths(steps: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each step's depth in the pipeline's DAG: 0 for a step that waits for none, else one
    more than the deepest step it waits for (the column the widget draws it in)."""
    waits: dict[str, list[str]] = {name: [] for name in steps}
    for source, target in edges:
        if source in waits and target in waits:
            waits[target].append(source)
    depth: dict[str, int] = {}

    def of(name: str, seen: frozenset[str]) -> int:
        if name not in depth:
            before = [b for b in waits[name] if b not in seen]  # a cycle never recurses
            depth[name] = 1 + max((of(b, seen | {name}) for b in before), default=-1)
        return depth[name]

    for name in steps:
        of(name, frozenset())
    return depth


def _best(values: list[float], maximize: bool) -> list[float]:
    """The best value so far at each point of a series."""
    best: list[float] = []
    for v in values:
        best.append(v if not best else (max if maximize else min)(best[-1], v))
    return best


class WidgetData:
    """The data behind one RunDetails widget, refreshed in place."""

    def __init__(self, run: WidgetRun) -> None:
        workspace: HasWorkspace = run.experiment.workspace
        self.run_id = run.id
        self.portal_url = run.get_portal_url()
        self.runs = api(workspace, RunsApi)
        self.files = api(workspace, FilesApi)
        self.sweeps = api(workspace, SweepsApi)
        self.pipelines = api(workspace, PipelinesApi)
        self.automl_api = api(workspace, AutoMLApi)
        self.info: RunInfo | None = None
        self.kind = "script"
        self.logs: dict[str, LogTail] = {}
        self.log_names: list[str] = []
        self.selected_log: str | None = None
        self.metrics: dict[str, Any] = {}
        self.images: dict[str, bytes] = {}
        self.children: list[RunInfo] = []
        self.children_metrics: dict[str, dict[str, Any]] = {}
        self.sweep: SweepInfo | None = None
        self.pipeline_graph: PipelineRunGraph | None = None
        self.automl: AutoMLInfo | None = None
        self.refreshes = 0

    # -- reading ------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read what changed since the last refresh; True if anything did."""
        before = self._fingerprint()
        self.info = self.runs.get(self.run_id)
        self.kind = view_kind(self.info.run_type, self.info.properties)
        self._read_logs()
        self.metrics = self.runs.metrics(self.run_id)
        self._read_images()
        self.children = self.runs.list(parent=self.run_id)
        if self.children:
            found = self.runs.metrics(self.run_id, recursive=True)
            self.children_metrics = {c.run_id: found.get(c.run_id, {}) for c in self.children}
        if self.kind == "hyperdrive":
            self.sweep = self.sweeps.get(self.run_id)
        elif self.kind == "pipeline":
            self.pipeline_graph = self.pipelines.graph(self.run_id)
        elif self.kind == "automl":
            self.automl = self.automl_api.get(self.run_id)
        self.refreshes += 1
        return self._fingerprint() != before

    def _fingerprint(self) -> str:
        info = self.info
        return json.dumps(
            [
                info.status.value if info else None,
                {n: (t.offset, t.attempt) for n, t in self.logs.items()},
                self.metrics,
                [(c.run_id, c.status.value) for c in self.children],
                self.children_metrics,
                self.sweep.model_dump(mode="json") if self.sweep else None,
                self.pipeline_graph.model_dump(mode="json") if self.pipeline_graph else None,
                self.automl.model_dump(mode="json") if self.automl else None,
            ],
            sort_keys=True,
            default=str,
        )

    def _read_logs(self) -> None:
        assert self.info is not None
        sizes = {item.name: item.size for item in self.files.list(self.run_id)}
        self.log_names = sorted(name for name in sizes if LOG_NAME.match(name))
        if self.selected_log not in sizes:
            self.selected_log = pick_log(list(sizes), settled=self.info.status.is_terminal)
        if self.selected_log is not None:
            tail = self.logs.setdefault(self.selected_log, LogTail(self.selected_log))
            tail.read(self.files, self.run_id, sizes[self.selected_log])

    def select_log(self, name: str) -> str:
        """Show the log ``name`` (another rank's): read from where it was left, then its text."""
        if name not in self.log_names:
            raise ValueError(f"Run {self.run_id} has no log {name!r}")
        self.selected_log = name
        sizes = {item.name: item.size for item in self.files.list(self.run_id)}
        tail = self.logs.setdefault(name, LogTail(name))
        tail.read(self.files, self.run_id, sizes.get(name, 0))
        return self.run_logs

    def _read_images(self) -> None:
        for name, value in self.metrics.items():
            entry = _metric_entry(self.run_id, name, value)
            for file_name in entry.get("files", []):
                if file_name not in self.images:
                    self.images[file_name] = self.files.read(self.run_id, file_name)

    # -- what the widget shows ----------------------------------------------------------
    @property
    def multirun(self) -> bool:
        """Whether the widget shows many runs (a sweep, a pipeline, an AutoML run): it
        refreshes less often."""
        return self.kind in ("hyperdrive", "pipeline", "automl")

    @property
    def status(self) -> str:
        return self.info.status.value if self.info else RunStatus.NOT_STARTED.value

    @property
    def finished(self) -> bool:
        return self.info is not None and self.info.status.is_terminal

    @property
    def run_logs(self) -> str:
        if self.selected_log is None:
            return NO_LOG if self.finished else WAITING_LOG
        tail = self.logs.get(self.selected_log)
        text = tail.text if tail else ""
        if not text:
            return NO_LOG if self.finished else WAITING_LOG
        return text

    @property
    def run_properties(self) -> dict[str, Any]:
        info = self.info
        if info is None:
            return {"run_id": self.run_id}
        definition = info.definition
        properties: dict[str, Any] = {
            "run_id": info.run_id,
            "run_number": info.number,
            "experiment_name": info.experiment_name,
            "display_name": info.display_name or info.run_id,
            "run_type": info.run_type,
            "status": info.status.value,
            "created_utc": _iso(info.created_utc),
            "start_time_utc": _iso(info.start_time_utc),
            "end_time_utc": _iso(info.end_time_utc),
            "run_duration": duration(info.start_time_utc, info.end_time_utc),
            "target": info.target,
            "script_name": definition.script if definition else None,
            "arguments": " ".join(definition.arguments) if definition else None,
            "attempt": info.attempt,
            "properties": dict(info.properties),
            "tags": dict(info.tags),
            "log_files": list(self.log_names),
            "selected_log": self.selected_log,
        }
        if info.error is not None:
            properties["error"] = info.error.model_dump()
        return properties

    @property
    def run_metrics(self) -> list[dict[str, Any]]:
        return [_metric_entry(self.run_id, name, value) for name, value in self.metrics.items()]

    @property
    def primary_metric(self) -> tuple[str, bool] | None:
        """(name, maximize) of a sweep's primary metric."""
        if self.sweep is None:
            return None
        config = self.sweep.primary_metric_config
        return config.name, config.goal == "maximize"

    @property
    def child_runs(self) -> list[dict[str, Any]]:
        if self.kind == "pipeline" and self.pipeline_graph is not None:
            return self.step_rows
        if self.kind == "automl" and self.automl is not None:
            return self.iteration_rows
        trials = {t.run_id: t for t in self.sweep.trials} if self.sweep else {}
        primary = self.primary_metric
        rows = []
        for child in sorted(self.children, key=lambda c: c.number):
            row: dict[str, Any] = {
                "run_id": child.run_id,
                "run_number": child.number,
                "display_name": child.display_name or child.run_id,
                "status": child.status.value,
                "run_type": child.run_type,
                "created_time": _iso(child.created_utc),
                "start_time": _iso(child.start_time_utc),
                "end_time": _iso(child.end_time_utc),
                "duration": duration(child.start_time_utc, child.end_time_utc),
            }
            trial = trials.get(child.run_id)
            if trial is not None:
                row["hyperparameters"] = dict(trial.parameters)
                row["best_metric"] = trial.best_primary_metric
            elif primary is not None:
                row["best_metric"] = None
            if primary is not None:
                row["metric_name"] = primary[0]
            else:
                row["metrics"] = {
                    name: value[-1] if isinstance(value, list) and value else value
                    for name, value in self.children_metrics.get(child.run_id, {}).items()
                    if not isinstance(value, dict)
                }
            rows.append(row)
        return rows

    @property
    def children_metric_series(self) -> dict[str, Any]:
        """Each child's values of the primary metric (a sweep) or of every metric, in order,
        and for a sweep the best value so far over all children in the order they logged."""
        primary = self.primary_metric
        series: dict[str, list[dict[str, Any]]] = {}
        for child in sorted(self.children, key=lambda c: c.number):
            for name, value in self.children_metrics.get(child.run_id, {}).items():
                if primary is not None and name != primary[0]:
                    continue
                values = value if isinstance(value, list) else [value]
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                    continue
                series.setdefault(name, []).append(
                    {
                        "run_id": child.run_id,
                        "run_number": child.number,
                        "categories": list(range(len(values))),
                        "data": values,
                    }
                )
        result: dict[str, Any] = {"series": series, "metricName": primary[0] if primary else None}
        if primary is not None and self.sweep is not None:
            finals = [
                t.best_primary_metric
                for t in sorted(self.sweep.trials, key=lambda t: t.index)
                if t.best_primary_metric is not None
            ]
            result["best_so_far"] = _best(finals, primary[1])
        return result

    # -- pipeline runs ------------------------------------------------------------------
    @property
    def step_rows(self) -> list[dict[str, Any]]:
        """The step table of a pipeline run: each step with its state, step run, duration
        and, for a reused step, the step run whose outputs it reused."""
        graph = self.pipeline_graph
        if graph is None:
            return []
        runs = {c.run_id: c for c in self.children}
        depths = step_depths([s.name for s in graph.steps], graph.edges)
        rows = []
        for step in graph.steps:
            run = runs.get(step.run_id) if step.run_id else None
            rows.append(
                {
                    "name": step.name,
                    "run_id": step.run_id,
                    "run_number": run.number if run else None,
                    "status": step.status.value,
                    "state": step.state,
                    "kind": step.kind,
                    "depends_on": list(step.depends_on),
                    "depth": depths[step.name],
                    "created_time": _iso(run.created_utc) if run else None,
                    "start_time": _iso(run.start_time_utc) if run else None,
                    "end_time": _iso(run.end_time_utc) if run else None,
                    "duration": duration(run.start_time_utc, run.end_time_utc) if run else None,
                    "reused": step.reused_run_id is not None,
                    "reused_run_id": step.reused_run_id,
                }
            )
        return sorted(rows, key=lambda r: (r["depth"], r["name"]))

    @property
    def graph(self) -> dict[str, Any]:
        """The pipeline run's graph as ``azureml.widgets`` hands it to its view: module
        nodes (the steps, by name), data source nodes (none: data passes between steps on
        the edges), edges and the step runs by node; {} for other runs."""
        graph = self.pipeline_graph
        if self.kind != "pipeline" or graph is None:
            return {}
        rows = self.step_rows
        return {
            "module_nodes": {
                r["name"]: {
                    "node_id": r["name"],
                    "name": r["name"],
                    "status": r["status"],
                    "state": r["state"],
                    "depth": r["depth"],
                    "run_id": r["run_id"],
                    "reused_run_id": r["reused_run_id"],
                }
                for r in rows
            },
            "datasource_nodes": {},
            "edges": [
                {"source_node_id": source, "target_node_id": target}
                for source, target in graph.edges
            ],
            "child_runs": {r["name"]: r for r in rows if r["run_id"]},
        }

    # -- AutoML runs ---------------------------------------------------------------------
    @property
    def iteration_rows(self) -> list[dict[str, Any]]:
        """The iteration table of an AutoML run as the SDK's console shows it: ITERATION,
        PIPELINE, DURATION, METRIC, BEST (the best score of the iterations up to this one)."""
        state = self.automl
        if state is None:
            return []
        maximize = state.goal == "maximize"
        runs = {c.run_id: c for c in self.children}
        rows = []
        best: float | None = None
        for child in sorted(state.children, key=lambda c: c.iteration):
            if child.score is not None:
                best = (
                    child.score if best is None else (max if maximize else min)(best, child.score)
                )
            run = runs.get(child.run_id)
            rows.append(
                {
                    "run_id": child.run_id,
                    "run_number": run.number if run else None,
                    "iteration": child.iteration,
                    "pipeline": f"ColumnTransformer {child.run_algorithm}",
                    "run_algorithm": child.run_algorithm,
                    "status": child.status,
                    "start_time": _iso(child.start_time_utc),
                    "end_time": _iso(child.end_time_utc),
                    "duration": duration(child.start_time_utc, child.end_time_utc),
                    "metric_name": state.primary_metric,
                    "metric": child.score,
                    "best": best,
                    "is_best": child.run_id == state.best_run_id,
                }
            )
        return rows

    @property
    def automl_metric_series(self) -> dict[str, Any]:
        """Every metric of every iteration (for a metric selector), and the primary metric
        over iterations with the best so far (the AutoML chart)."""
        state = self.automl
        assert state is not None
        rows = [r for r in self.iteration_rows if r["metric"] is not None]
        result = self.children_metric_series
        result.update(
            {
                "metricName": state.primary_metric,
                "goal": state.goal,
                "iterations": [r["iteration"] for r in rows],
                "values": [r["metric"] for r in rows],
                "best_so_far": _best([r["metric"] for r in rows], state.goal == "maximize"),
                "best_run_id": state.best_run_id,
            }
        )
        return result

    @property
    def automl_metric_names(self) -> list[str]:
        """The metrics the AutoML chart can show: the primary metric first, then every other
        number the iterations logged."""
        if self.automl is None:
            return []
        primary = self.automl.primary_metric
        logged = sorted(set(self.children_metric_series["series"]) - {primary})
        return [primary, *logged]

    def automl_metric(self, name: str) -> tuple[list[int], list[float], list[float]]:
        """(iterations, value, best so far) of metric ``name`` over the AutoML run's
        iterations (the last value each logged), for the chart's metric selector."""
        if self.automl is not None and name == self.automl.primary_metric:
            series = self.automl_metric_series
            return series["iterations"], series["values"], series["best_so_far"]
        found = {
            item["run_id"]: item["data"][-1]
            for item in self.children_metric_series["series"].get(name, [])
            if item["data"] and item["data"][-1] is not None
        }
        points = [
            (r["iteration"], found[r["run_id"]])
            for r in self.iteration_rows
            if r["run_id"] in found
        ]
        values = [float(v) for _, v in points]
        return [i for i, _ in points], values, _best(values, goal(name) == "maximize")

    def as_dict(self, widget_settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """``RunDetails.get_widget_data()``: the keys of ``azureml.widgets``."""
        return {
            "status": self.status,
            "workbench_run_details_uri": self.portal_url,
            "run_id": self.run_id,
            "run_properties": self.run_properties,
            "child_runs": self.child_runs,
            "children_metrics": self.automl_metric_series
            if self.kind == "automl" and self.automl is not None
            else self.children_metric_series,
            "run_metrics": self.run_metrics,
            "run_logs": self.run_logs,
            "graph": self.graph,
            "widget_settings": dict(widget_settings or {}),
        }
