#!/usr/bin/env python3
"""Run every trainforge benchmark next to its peer and print one table.

    .venv/bin/python bench/run_all.py            # full size (about 7 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # reduced sizes
    .venv/bin/python bench/run_all.py --json bench/results/latest.json

Every benchmark runs in a fresh TRAINFORGE_HOME whose server is stopped at the end.
Benchmarks measure; they never assert (see bench/README.md for what each figure means).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_automl  # noqa: E402
import bench_charts  # noqa: E402
import bench_cluster  # noqa: E402
import bench_datastores  # noqa: E402
import bench_ddp  # noqa: E402
import bench_environments  # noqa: E402
import bench_hyperdrive  # noqa: E402
import bench_load  # noqa: E402
import bench_metrics  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_ray  # noqa: E402
import bench_runs_list  # noqa: E402
import bench_serving  # noqa: E402
import bench_submit  # noqa: E402
from _common import Row, fmt_ratio, fmt_value, progress  # noqa: E402

BENCHMARKS = [
    ("metrics", bench_metrics.run),
    ("load", bench_load.run),
    ("submit", bench_submit.run),
    ("cluster", bench_cluster.run),
    ("ddp", bench_ddp.run),
    ("datastores", bench_datastores.run),
    ("environments", bench_environments.run),
    ("hyperdrive", bench_hyperdrive.run),
    ("automl", bench_automl.run),
    ("pipeline", bench_pipeline.run),
    ("ray", bench_ray.run),
    ("runs-list", bench_runs_list.run),
    ("charts", bench_charts.run),
    ("serving", bench_serving.run),
]


def _versions() -> dict[str, Any]:
    import trainforge

    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "trainforge": trainforge.__version__,
    }
    try:
        from importlib.metadata import version

        versions["mlflow"] = version("mlflow-skinny")
    except Exception:
        try:
            versions["mlflow"] = version("mlflow")
        except Exception:
            versions["mlflow"] = None
    try:
        versions["ray"] = version("ray")
    except Exception:
        versions["ray"] = None
    try:
        versions["torch"] = version("torch")
    except Exception:
        versions["torch"] = None
    return versions


def _cells(row: Row) -> list[str]:
    return [
        row.benchmark,
        fmt_value(row.trainforge, row.unit),
        fmt_value(row.peer, row.unit),
        fmt_ratio(row),
        row.note,
    ]


HEADERS = ["benchmark", "trainforge", "peer", "ratio (tf/peer)", "note"]


def print_table(rows: list[Row], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        table = [HEADERS] + [_cells(row) for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
        for k, line in enumerate(table):
            print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
            if k == 0:
                print("-+-".join("-" * w for w in widths))
        return
    table = Table(title=title, show_lines=True)
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*_cells(row))
    Console(width=max(160, Console().width)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (seconds, not minutes)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--only", choices=[name for name, _ in BENCHMARKS], action="append", help="run only these"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name, bench in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        progress(f"== {name}")
        try:
            produced = bench(quick=args.quick)
            rows.extend(produced)
            failed = [row.error for row in produced if row.error]
            if failed:  # it ran, but a check failed: the row says FAILED, and so does the exit code
                errors[name] = "; ".join(failed)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            errors[name] = f"{type(exc).__name__}: {exc}"
            rows.append(Row(f"{name}: FAILED", None, None, "", errors[name]))
    elapsed = time.perf_counter() - started

    versions = _versions()
    title = (
        f"trainforge {versions['trainforge']} vs peers"
        f" ({'quick' if args.quick else 'full'} size; Python {versions['python']},"
        f" {versions['cpus']} CPUs; MLflow {versions['mlflow'] or 'not installed'};"
        f" Ray {versions['ray'] or 'not installed'};"
        f" torch {versions['torch'] or 'not installed'};"
        f" {elapsed:.0f} s in all)"
    )
    print_table(rows, title)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "quick": args.quick,
                    "elapsed_s": elapsed,
                    "versions": versions,
                    "rows": [row.as_dict() for row in rows],
                    "errors": errors,
                },
                indent=2,
            )
        )
        progress(f"results written to {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
