"""The notebook view of a RunDetails widget: ipywidgets, charts drawn by matplotlib.

Script runs show their properties, the live log of rank 0 with a selector for the other
ranks' (and attempts') logs, and a chart per logged metric (a line for a series, a table
for rows and tables, the image for ``log_image``); HyperDrive runs show their children
with hyperparameters, status and best primary metric, and the primary metric over time of
every child; pipeline runs their step graph (an SVG, steps laid out by depth, coloured by
live status, reused steps dashed) and step table; AutoML runs their iteration table and
the primary metric over iterations with the best so far. Every text the run supplies is
HTML-escaped.
"""

from __future__ import annotations

import html
import io
import json
from typing import Any

import ipywidgets as widgets
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainforge.widgets._data import WidgetData

STATUS_COLOURS = {
    "Completed": "#107c10",
    "Failed": "#a80000",
    "Canceled": "#797775",
    "Running": "#0078d4",
}
TABLE_STYLE = "border-collapse:collapse;font-size:12px"
CELL = "style='text-align:left;padding:2px 8px;border-bottom:1px solid #e1dfdd'"
CHART_SIZE = (4.2, 2.6)  # inches at 80 dpi: a chart a notebook shows three abreast
MAX_TABLE_ROWS = 50
# The pipeline graph: each step a box of this size (px), in a column per depth.
NODE_W, NODE_H, COLUMN_GAP, ROW_GAP, MARGIN = 180, 46, 56, 14, 8
NODE_NAME_CHARS = 24
PENDING_COLOUR = "#8a8886"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _score(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "nan"


def _table(headers: list[str], rows: list[list[Any]], css_class: str = "") -> str:
    head = "".join(f"<th {CELL}>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td {CELL}>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    css = f" class='{css_class}'" if css_class else ""
    return f"<table{css} style='{TABLE_STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # drawn without pyplot: safe off the notebook's thread
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def line_chart(
    title: str, lines: list[tuple[str, list[Any]]], x_label: str = "index", legend: bool = False
) -> bytes:
    """A PNG line chart of ``lines`` ([(label, values)]), each over its index."""
    figure = Figure(figsize=CHART_SIZE, dpi=80)
    axes = figure.add_subplot()
    for label, values in lines:
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        axes.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=label)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(x_label, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    if legend and 1 < len(lines) <= 12:
        axes.legend(fontsize=6)
    figure.tight_layout()
    return _png(figure)


def parallel_coordinates(rows: list[dict[str, Any]], metric: str) -> bytes | None:
    """A PNG of each child run as a line across its hyperparameters and its best primary
    metric (every axis scaled to its own range; text values placed in their sorted order),
    coloured by the metric. None until two children have the metric."""
    scored = [r for r in rows if r.get("best_metric") is not None and r.get("hyperparameters")]
    if len(scored) < 2:
        return None
    names = sorted({name for r in scored for name in r["hyperparameters"]})
    axes_values: list[list[float]] = []
    labels: list[str] = []
    ends: list[tuple[str, str]] = []  # each axis's lowest and highest value, as text
    for name in [*names, metric]:
        raw = [
            r["hyperparameters"].get(name) if name != metric else r["best_metric"] for r in scored
        ]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
            numbers = [float(v) for v in raw]
            ends.append((f"{min(numbers):.4g}", f"{max(numbers):.4g}"))
        else:
            order = sorted({str(v) for v in raw})
            numbers = [float(order.index(str(v))) for v in raw]
            ends.append((order[0], order[-1]))
        low, high = min(numbers), max(numbers)
        axes_values.append([(v - low) / (high - low) if high > low else 0.5 for v in numbers])
        labels.append(name)
    figure = Figure(figsize=(max(4.2, 1.2 * len(labels)), 2.8), dpi=80)
    axes = figure.add_subplot()
    metrics = [float(r["best_metric"]) for r in scored]
    low, high = min(metrics), max(metrics)
    colours = colormaps["viridis"]
    for i in range(len(scored)):
        shade = (metrics[i] - low) / (high - low) if high > low else 0.5
        axes.plot(range(len(labels)), [column[i] for column in axes_values], color=colours(shade))
    axes.set_xticks(range(len(labels)), labels, fontsize=7)
    axes.set_yticks([])
    for x, (bottom, top) in enumerate(ends):
        axes.axvline(x, color="#999", linewidth=0.8)
        axes.annotate(top, (x, 1.0), fontsize=6, ha="center", va="bottom")
        axes.annotate(bottom, (x, 0.0), fontsize=6, ha="center", va="top")
    axes.set_title(f"hyperparameters vs {metric}", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def pipeline_svg(graph: dict[str, Any]) -> str:
    """The pipeline run's step graph as an SVG: a column per depth (the steps a step waits
    for lie to its left), an arrow per edge, each step a box coloured by its run's status
    with its name and status; a reused step's box is dashed and says whose run it reused."""
    nodes: dict[str, dict[str, Any]] = graph.get("module_nodes", {})
    if not nodes:
        return ""
    columns: dict[int, list[str]] = {}
    for name, node in sorted(nodes.items(), key=lambda item: (item[1]["depth"], item[0])):
        columns.setdefault(node["depth"], []).append(name)
    place: dict[str, tuple[int, int]] = {}
    for depth, names in columns.items():
        for row, name in enumerate(names):
            place[name] = (
                MARGIN + depth * (NODE_W + COLUMN_GAP),
                MARGIN + row * (NODE_H + ROW_GAP),
            )
    width = MARGIN * 2 + (max(columns) + 1) * (NODE_W + COLUMN_GAP) - COLUMN_GAP
    height = MARGIN * 2 + max(len(n) for n in columns.values()) * (NODE_H + ROW_GAP) - ROW_GAP
    parts = [
        f"<svg class='trainforge-pipeline-graph' xmlns='http://www.w3.org/2000/svg' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        "style='font-family:sans-serif'>",
        "<defs><marker id='trainforge-arrow' viewBox='0 0 10 10' refX='10' refY='5' "
        "markerWidth='7' markerHeight='7' orient='auto-start-reverse'>"
        "<path d='M 0 0 L 10 5 L 0 10 z' fill='#605e5c'/></marker></defs>",
    ]
    for edge in graph.get("edges", []):
        source, target = edge["source_node_id"], edge["target_node_id"]
        if source not in place or target not in place:
            continue
        (x1, y1), (x2, y2) = place[source], place[target]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
        bend = (x2 - x1) // 2
        parts.append(
            f"<path class='trainforge-edge' data-source='{_e(source)}' "
            f"data-target='{_e(target)}' d='M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, "
            f"{x2} {y2}' fill='none' stroke='#605e5c' stroke-width='1.5' "
            "marker-end='url(#trainforge-arrow)'/>"
        )
    for name, node in nodes.items():
        x, y = place[name]
        status = node["status"]
        colour = STATUS_COLOURS.get(status, PENDING_COLOUR)
        reused = node.get("reused_run_id")
        dash = " stroke-dasharray='5 3'" if reused else ""
        label = f"{status} (reused)" if reused else status
        title = f"{name}: {status}" + (f", reused {reused}" if reused else "")
        parts.append(
            f"<g class='trainforge-step' data-step='{_e(name)}' data-status='{_e(status)}' "
            f"data-reused='{'true' if reused else 'false'}'>"
            f"<title>{_e(title)}</title>"
            f"<rect x='{x}' y='{y}' width='{NODE_W}' height='{NODE_H}' rx='6' fill='white' "
            f"stroke='{colour}' stroke-width='2'{dash}/>"
            f"<rect x='{x}' y='{y}' width='6' height='{NODE_H}' rx='3' fill='{colour}'/>"
            f"<text x='{x + 14}' y='{y + 19}' font-size='12' font-weight='bold' "
            f"fill='#323130'>{_e(_short(name, NODE_NAME_CHARS))}</text>"
            f"<text x='{x + 14}' y='{y + 36}' font-size='11' fill='{colour}'>"
            f"{_e(label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def automl_chart(
    metric: str, iterations: list[int], values: list[float], best: list[float]
) -> bytes:
    """A PNG of the primary metric of each iteration and the best so far over iterations."""
    figure = Figure(figsize=CHART_SIZE, dpi=80)
    axes = figure.add_subplot()
    axes.plot(iterations, values, marker="o", markersize=3, linestyle="none", label=metric)
    axes.plot(iterations, best, drawstyle="steps-post", label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(metric, fontsize=10)
    axes.set_xlabel("iteration", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6)
    figure.tight_layout()
    return _png(figure)


class RunView:
    """The widget tree for one run, updated from its WidgetData after each refresh."""

    def __init__(self, data: WidgetData) -> None:
        self.data = data
        self.header = widgets.HTML()
        self.properties = widgets.HTML()
        self.error = widgets.HTML()
        self.log_selector = widgets.Dropdown(description="Log", layout={"width": "460px"})
        self.log = widgets.HTML()
        self.metrics_box = widgets.Box(layout={"flex_flow": "row wrap"})
        self.children_table = widgets.HTML()
        self.primary_chart = widgets.Image(format="png", layout={"width": "480px"})
        self.parallel_chart = widgets.Image(format="png", layout={"width": "480px"})
        self.pipeline_graph = widgets.HTML(layout={"overflow": "auto"})
        self.iterations_chart = widgets.Image(format="png", layout={"width": "480px"})
        self.metric_selector = widgets.Dropdown(description="Metric", layout={"width": "460px"})
        self.metric_selector.observe(self._on_metric_selected, names="value")
        self._charts: dict[str, tuple[str, widgets.Widget]] = {}
        self._updating = False
        self.log_selector.observe(self._on_log_selected, names="value")
        self.root = widgets.VBox(
            [self.header, self.properties, self.error],
            layout={"border": "1px solid #e1dfdd", "padding": "8px"},
        )
        self.root.add_class("trainforge-run-details")

    # -- updates ------------------------------------------------------------------------
    def update(self) -> None:
        data = self.data
        self._updating = True
        try:
            self.header.value = self._header_html()
            self.properties.value = self._properties_html()
            error = data.run_properties.get("error")
            self.error.value = (
                f"<pre style='color:#a80000;white-space:pre-wrap'>{_e(error['message'])}</pre>"
                if error
                else ""
            )
            options = data.log_names or ([data.selected_log] if data.selected_log else [])
            if list(self.log_selector.options) != options:
                self.log_selector.options = options
            if data.selected_log is not None and self.log_selector.value != data.selected_log:
                self.log_selector.value = data.selected_log
            self.log.value = self._log_html()
            if data.kind == "hyperdrive":
                self._update_sweep()
            elif data.kind == "pipeline":
                self.pipeline_graph.value = pipeline_svg(data.graph)
            elif data.kind == "automl":
                self._update_automl()
            else:
                self._update_metrics()
            self.children_table.value = self._children_html()
            self.root.children = self._layout()
        finally:
            self._updating = False

    def _layout(self) -> tuple[widgets.Widget, ...]:
        data = self.data
        parts: list[widgets.Widget] = [self.header, self.properties, self.error]
        if data.kind == "hyperdrive":
            parts += [_section("Child runs"), self.children_table]
            if self.primary_chart.value:
                parts += [_section("Primary metric"), self.primary_chart]
            if self.parallel_chart.value:
                parts += [_section("Parallel coordinates"), self.parallel_chart]
        elif data.kind == "pipeline":
            if self.pipeline_graph.value:
                parts += [_section("Pipeline graph"), self.pipeline_graph]
            if data.children or data.child_runs:
                parts += [_section("Steps"), self.children_table]
        elif data.kind == "automl":
            if data.child_runs:
                parts += [_section("Iterations"), self.children_table]
            if self.iterations_chart.value:
                parts += [_section("Primary metric"), self.metric_selector, self.iterations_chart]
        parts += [_section("Output logs"), self.log_selector, self.log]
        if data.kind not in ("hyperdrive", "pipeline", "automl"):
            if self.metrics_box.children:
                parts += [_section("Metrics"), self.metrics_box]
            if data.children:
                parts += [_section("Child runs"), self.children_table]
        return tuple(parts)

    def _on_log_selected(self, change: dict[str, Any]) -> None:
        if self._updating or not change.get("new"):
            return
        self.data.select_log(change["new"])
        self.log.value = self._log_html()

    # -- pieces -------------------------------------------------------------------------
    def _header_html(self) -> str:
        data = self.data
        props = data.run_properties
        colour = STATUS_COLOURS.get(data.status, "#605e5c")
        kind = {
            "hyperdrive": "HyperDrive run",
            "pipeline": "Pipeline run",
            "automl": "AutoML run",
        }.get(data.kind, "Run")
        return (
            f"<div style='font-size:14px'><b>{kind} {_e(props.get('display_name'))}</b> "
            f"<span class='trainforge-status' style='background:{colour};color:white;"
            f"padding:1px 6px;border-radius:3px'>{_e(data.status)}</span> "
            f"<a href='{_e(data.portal_url)}' target='_blank' style='color:#0078d4'>"
            "Click here to see the run in trainforge studio</a></div>"
        )

    def _properties_html(self) -> str:
        props = self.data.run_properties
        rows = [
            ["Status", props.get("status")],
            ["Run Id", props.get("run_id")],
            ["Experiment", props.get("experiment_name")],
            ["Run number", props.get("run_number")],
            ["Target", props.get("target")],
            ["Start Time", props.get("start_time_utc")],
            ["End Time", props.get("end_time_utc")],
            ["Duration", props.get("run_duration")],
            ["Script", props.get("script_name")],
            ["Arguments", props.get("arguments")],
        ]
        return _table(["Property", "Value"], [r for r in rows if r[1] not in (None, "")])

    def _log_html(self) -> str:
        return (
            "<pre class='trainforge-log' style='max-height:320px;overflow:auto;"
            "background:#f8f8f8;padding:6px;font-size:12px;white-space:pre-wrap'>"
            f"{_e(self.data.run_logs)}</pre>"
        )

    def _children_html(self) -> str:
        rows = self.data.child_runs
        if not rows:
            return ""
        if self.data.kind == "pipeline":
            return _table(
                ["Step", "Status", "Duration", "Run Id", "Reused"],
                [
                    [
                        r["name"],
                        r["status"],
                        r["duration"],
                        r["run_id"],
                        f"reused {r['reused_run_id']}" if r["reused"] else "",
                    ]
                    for r in rows[:MAX_TABLE_ROWS]
                ],
                "trainforge-steps",
            )
        if self.data.kind == "automl":
            return _table(
                ["ITERATION", "PIPELINE", "DURATION", "METRIC", "BEST", "Status", "Run Id"],
                [
                    [
                        r["iteration"],
                        r["pipeline"] + (" \u2605" if r["is_best"] else ""),
                        r["duration"],
                        _score(r["metric"]),
                        _score(r["best"]),
                        r["status"],
                        r["run_id"],
                    ]
                    # The latest iterations when there are many, as the console shows them.
                    for r in rows[-MAX_TABLE_ROWS:]
                ],
                "trainforge-iterations",
            )
        if self.data.kind == "hyperdrive":
            names = sorted({k for r in rows for k in r.get("hyperparameters", {})})
            metric = rows[0].get("metric_name", "best metric")
            headers = ["Run", "Run Id", "Status", "Duration", *names, f"Best {metric}"]
            body = [
                [
                    r["run_number"],
                    r["run_id"],
                    r["status"],
                    r["duration"],
                    *[r.get("hyperparameters", {}).get(n) for n in names],
                    r.get("best_metric"),
                ]
                for r in rows[:MAX_TABLE_ROWS]
            ]
        else:
            names = sorted({k for r in rows for k in r.get("metrics", {})})
            headers = ["Run", "Run Id", "Status", "Duration", *names]
            body = [
                [
                    r["run_number"],
                    r["run_id"],
                    r["status"],
                    r["duration"],
                    *[r.get("metrics", {}).get(n) for n in names],
                ]
                for r in rows[:MAX_TABLE_ROWS]
            ]
        return _table(headers, body)

    def _update_metrics(self) -> None:
        boxes = []
        for entry in self.data.run_metrics:
            name = entry["name"]
            key = json.dumps(entry, sort_keys=True, default=str)
            cached = self._charts.get(name)
            if cached is None or cached[0] != key:
                self._charts[name] = (key, self._metric_widget(entry))
            boxes.append(self._charts[name][1])
        self.metrics_box.children = tuple(boxes)

    def _metric_widget(self, entry: dict[str, Any]) -> widgets.Widget:
        name = entry["name"]
        label = widgets.HTML(f"<b class='trainforge-metric'>{_e(name)}</b>")
        kind = entry["type"]
        body: widgets.Widget
        if kind in ("series", "scalar"):
            values = entry["series"][0]["data"]
            png = line_chart(name, [(name, values)])
            body = widgets.Image(value=png, format="png", layout={"width": "336px"})
            if kind == "scalar":
                label.value += f" = {_e(values[0])}"
        elif kind == "table":
            columns: dict[str, list[Any]] = entry["columns"]
            headers = list(columns)
            length = max((len(c) for c in columns.values()), default=0)
            rows = [
                [columns[h][i] if i < len(columns[h]) else None for h in headers]
                for i in range(min(length, MAX_TABLE_ROWS))
            ]
            body = widgets.HTML(_table(headers, rows))
        elif kind == "image":
            images = [self.data.images.get(f, b"") for f in entry["files"]]
            body = widgets.Image(value=images[-1], format="png", layout={"width": "336px"})
        else:
            body = widgets.HTML(f"<span>{_e(entry['value'])}</span>")
        box = widgets.VBox([label, body], layout={"margin": "4px", "padding": "4px"})
        box.add_class("trainforge-metric-chart")
        return box

    def _update_automl(self) -> None:
        names = self.data.automl_metric_names
        if list(self.metric_selector.options) != names:
            chosen = self.metric_selector.value
            self.metric_selector.options = names
            self.metric_selector.value = chosen if chosen in names else names[0]
        self._draw_automl()

    def _on_metric_selected(self, change: dict[str, Any]) -> None:
        if self._updating or not change.get("new"):
            return
        self._draw_automl()

    def _draw_automl(self) -> None:
        """The chosen metric (the primary metric at first) over iterations, best so far."""
        name = self.metric_selector.value
        if not name:
            return
        iterations, values, best = self.data.automl_metric(name)
        if not values:
            return
        key = json.dumps([name, iterations, values])
        cached = self._charts.get("__automl__")
        if cached is None or cached[0] != key:
            self.iterations_chart.value = automl_chart(str(name), iterations, values, best)
            self._charts["__automl__"] = (key, self.iterations_chart)

    def _update_sweep(self) -> None:
        series = self.data.children_metric_series
        name = series.get("metricName")
        lines = [(str(item["run_number"]), item["data"]) for item in series["series"].get(name, [])]
        if lines:
            key = json.dumps([name, lines, series.get("best_so_far")], default=str)
            cached = self._charts.get("__primary__")
            if cached is None or cached[0] != key:
                self.primary_chart.value = line_chart(
                    str(name), lines, x_label="interval", legend=True
                )
                self._charts["__primary__"] = (key, self.primary_chart)
        rows = self.data.child_runs
        key = json.dumps([name, [(r.get("hyperparameters"), r.get("best_metric")) for r in rows]])
        cached = self._charts.get("__parallel__")
        if name and (cached is None or cached[0] != key):
            png = parallel_coordinates(rows, str(name))
            if png is not None:
                self.parallel_chart.value = png
                self._charts["__parallel__"] = (key, self.parallel_chart)


def _section(title: str) -> widgets.HTML:
    return widgets.HTML(f"<div style='font-weight:bold;margin-top:8px'>{_e(title)}</div>")
