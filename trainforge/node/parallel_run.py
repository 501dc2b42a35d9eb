"""``python -m trainforge.node.parallel_run --settings JSON --input NAME... [--output NAME]
-- ARGS...``: one worker of a ParallelRunStep, as the launcher starts
``node_count x process_count_per_node`` of them (ranks ``RANK`` of ``WORLD_SIZE``).

Every worker cuts its inputs into the same mini-batches (a FileDataset's files in path
order, ``mini_batch_size`` at a time; a TabularDataset's rows, about ``mini_batch_size``
bytes of a file at a time, or one mini-batch per ``partition_keys`` value) and takes
those whose index is its rank modulo the number of workers. It runs the entry script in a
process of its own (loaded with ``entry_script``, ``init()`` once, then ``run(mini_batch)``
per mini-batch, ``shutdown()`` at the end where the script has one), so that a ``run()``
that hangs past ``run_invocation_timeout`` or takes its process down costs one try of its
mini-batch, not the worker: the process is started again and the mini-batch tried again,
up to ``run_max_try`` tries. What ``run()`` returns counts the items that succeeded
(one element or row each); a mini-batch that fails every try counts all its items as
failed. A worker stops early once its own failures exceed the step's budget.

Each worker sends its results to the run's files (through the control plane, so workers
on different hosts meet); worker 0 waits for all, writes the rows in mini-batch order to
``parallel_run_step.txt`` (``append_row_file_name``) of the output, ``logs/overview.txt``
and ``logs/sys/job_report/processed_mini-batches.csv``, and exits non-zero (failing the
step) when the failures exceed ``error_threshold``, ``allowed_failed_count`` or
``allowed_failed_percent``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainforge.client.api.files import FilesApi
from trainforge.client.session import run_session
from trainforge.node import entry_script
from trainforge.schemas.parallel_run import Budget, ParallelRunSettings
from trainforge.schemas.runs import RunDefinition
from trainforge.schemas.settings import RunContext

RESULTS_PREFIX = "logs/sys/job_report/worker_results/"
OVERVIEW = Path("logs/overview.txt")
PROCESSED_CSV = Path("logs/sys/job_report/processed_mini-batches.csv")
POLL_S = 0.5


# -- mini-batches --------------------------------------------------------------------------


@dataclass(frozen=True)
class MiniBatch:
    """One mini-batch: files of a FileDataset, or rows ``start:stop`` of a delimited file
    (all rows of one partition key when ``rows`` is given)."""

    index: int
    input_name: str
    files: tuple[str, ...] = ()
    table_file: str | None = None
    start: int = 0
    stop: int = 0
    rows: tuple[int, ...] | None = None

    @property
    def items(self) -> int:
        if self.table_file is None:
            return len(self.files)
        return len(self.rows) if self.rows is not None else self.stop - self.start

    def describe(self) -> str:
        if self.table_file is None:
            first = Path(self.files[0]).name if self.files else ""
            return f"{self.input_name}: {self.items} files from {first}"
        return f"{self.input_name}: {self.items} rows of {Path(self.table_file).name}"


@dataclass(frozen=True)
class InputData:
    """An input as the worker finds it: where its files are and how a table is read."""

    name: str
    path: Path
    tabular: bool
    separator: str = ","
    header: bool = True
    encoding: str = "utf8"


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        found += [Path(root) / name for name in sorted(files)]
    return sorted(found, key=lambda p: p.relative_to(path).as_posix())


def _read_table(data: InputData, file: str) -> Any:
    import pandas as pd

    return pd.read_csv(
        file, sep=data.separator, header=0 if data.header else None, encoding=data.encoding
    )


def plan(settings: ParallelRunSettings, inputs: list[InputData]) -> list[MiniBatch]:
    """Every mini-batch of the step, numbered from 0 in a order all workers agree on."""
    batches: list[MiniBatch] = []
    for data in inputs:
        files = _files_under(data.path)
        if not data.tabular:
            size = settings.files_per_batch()
            for at in range(0, len(files), size):
                chunk = tuple(str(f) for f in files[at : at + size])
                batches.append(MiniBatch(len(batches), data.name, files=chunk))
            continue
        budget = settings.bytes_per_batch()
        for file in files:
            frame = _read_table(data, str(file))
            rows = len(frame)
            if not rows:
                continue
            if settings.partition_keys is not None:
                missing = [k for k in settings.partition_keys if k not in frame.columns]
                if missing:
                    raise ValueError(
                        f"partition_keys: {', '.join(missing)} not a column of input {data.name}"
                    )
                groups = frame.groupby(list(settings.partition_keys), sort=True).indices
                for key in sorted(groups, key=str):
                    members = tuple(int(i) for i in groups[key])
                    batches.append(
                        MiniBatch(len(batches), data.name, table_file=str(file), rows=members)
                    )
                continue
            per_row = max(file.stat().st_size / rows, 1.0)
            step = max(int(budget // per_row), 1)
            for at in range(0, rows, step):
                batches.append(
                    MiniBatch(
                        len(batches),
                        data.name,
                        table_file=str(file),
                        start=at,
                        stop=min(at + step, rows),
                    )
                )
    return batches


# -- the entry script's process ------------------------------------------------------------


def _as_rows(result: Any) -> list[str]:
    """What ``run()`` returned, one line per succeeded item: a list's elements, a
    DataFrame's rows (values separated by spaces)."""
    if result is None:
        return []
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        text = result.to_csv(sep=" ", header=False, index=False)
        return [line for line in text.splitlines() if line != ""]
    if isinstance(result, str | bytes):
        return [result.decode() if isinstance(result, bytes) else result]
    return [str(item) for item in result]


def _child(
    conn: multiprocessing.connection.Connection,
    script: str,
    argv: list[str],
    cwd: str,
    level: str,
) -> None:
    """The entry script's process: ``init()``, then ``run()`` per mini-batch it is sent;
    the root logger at ``logging_level`` (to the worker's driver log)."""
    os.chdir(cwd)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    sys.argv = [script, *argv]
    try:
        loaded = entry_script.load(Path(script), Path(cwd))
        entry_script.initialize(loaded)
    except entry_script.EntryScriptError as exc:
        conn.send(("init_failed", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            shutdown = getattr(loaded.module, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:
                    traceback.print_exc()
            conn.send(("stopped", None))
            return
        _, payload = message
        try:
            rows = _as_rows(loaded.run(payload))
        except BaseException as exc:  # the user's error, reported with its traceback
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            conn.send(("error", text))
            continue
        conn.send(("ok", rows))


class InitFailed(Exception):
    """The entry script cannot be loaded or its init() failed: the worker cannot go on."""


class ScriptProcess:
    """The entry script's process, started on first use and again after it died."""

    def __init__(self, script: str, argv: list[str], level: str = "INFO") -> None:
        self.script = script
        self.argv = argv
        self.level = level
        self.context = multiprocessing.get_context("spawn")
        self.process: Any = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.starts = 0

    def _start(self) -> multiprocessing.connection.Connection:
        parent, child = self.context.Pipe()
        self.process = self.context.Process(
            target=_child,
            args=(child, self.script, self.argv, os.getcwd(), self.level),
            daemon=True,
        )
        self.process.start()
        child.close()
        self.starts += 1
        reply = self._reply(parent, None)
        if reply is None or reply[0] != "ready":
            why = reply[1] if reply is not None else self._death()
            self.kill()
            raise InitFailed(str(why))
        self.conn = parent
        return parent

    def _death(self) -> str:
        self.process.join(5)
        return f"the entry script's process exited with code {self.process.exitcode}"

    def _reply(
        self, conn: multiprocessing.connection.Connection, timeout: float | None
    ) -> tuple[str, Any] | None:
        ready = multiprocessing.connection.wait([conn, self.process.sentinel], timeout)
        if conn in ready:
            try:
                return conn.recv()  # type: ignore[no-any-return]
            except EOFError:
                return None
        return None

    def run(self, payload: Any, timeout: float) -> tuple[str, Any]:
        """("ok", rows), ("error", traceback), ("timeout", message) or ("died", message)."""
        conn = self.conn or self._start()
        started = time.monotonic()
        conn.send(("run", payload))
        reply = self._reply(conn, timeout)
        if reply is not None:
            return reply
        if self.process.is_alive() and time.monotonic() - started >= timeout:
            self.kill()
            return "timeout", f"run() did not return within run_invocation_timeout={timeout:g} s"
        why = self._death()
        self.kill()
        return "died", f"{why} while running the mini-batch"

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join()
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def stop(self) -> None:
        if self.conn is not None and self.process.is_alive():
            try:
                self.conn.send(("stop", None))
                self._reply(self.conn, 30)
            except (OSError, EOFError):
                pass
        self.kill()


# -- one worker ----------------------------------------------------------------------------


@dataclass
class BatchResult:
    index: int
    description: str
    items: int
    status: str  # succeeded | failed | not_run
    tries: int = 0
    succeeded_items: int = 0
    rank: int = 0
    seconds: float = 0.0
    error: str | None = None
    rows: list[str] = field(default_factory=list)

    @property
    def failed_items(self) -> int:
        return self.items - min(self.succeeded_items, self.items)


@dataclass
class WorkerReport:
    rank: int
    node_rank: int
    results: list[BatchResult]
    stopped: str | None = None


def _payload(batch: MiniBatch, inputs: dict[str, InputData], tables: dict[str, Any]) -> Any:
    if batch.table_file is None:
        return list(batch.files)
    frame = tables.get(batch.table_file)
    if frame is None:
        tables.clear()  # one file's table at a time
        frame = tables[batch.table_file] = _read_table(inputs[batch.input_name], batch.table_file)
    part = (
        frame.iloc[list(batch.rows)]
        if batch.rows is not None
        else frame.iloc[batch.start : batch.stop]
    )
    return part.reset_index(drop=True)


class Worker:
    def __init__(
        self,
        settings: ParallelRunSettings,
        inputs: list[InputData],
        argv: list[str],
        rank: int,
        world: int,
        node_rank: int,
    ) -> None:
        self.settings = settings
        self.inputs = {data.name: data for data in inputs}
        self.rank, self.world, self.node_rank = rank, world, node_rank
        self.script = ScriptProcess(settings.entry_script, argv, settings.logging_level)
        name = f"process{rank:03d}.txt"
        self.sys_log = Path("logs/sys/node") / str(node_rank) / name
        self.error_log = Path("logs/user/error") / str(node_rank) / name
        self.budget = Budget(
            error_threshold=settings.error_threshold,
            allowed_failed_count=settings.allowed_failed_count,
        )

    def log(self, line: str, path: Path | None = None) -> None:
        path = path or self.sys_log
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(path, "a") as out:
            out.write(f"{stamp} {line.rstrip()}\n")

    def process(self, batches: list[MiniBatch]) -> WorkerReport:
        mine = [b for b in batches if b.index % self.world == self.rank]
        self.log(
            f"Worker {self.rank} of {self.world} (node {self.node_rank}): {len(mine)} of "
            f"{len(batches)} mini-batches"
        )
        report = WorkerReport(self.rank, self.node_rank, [])
        tables: dict[str, Any] = {}
        failed_items = failed_batches = 0
        try:
            for batch in mine:
                if report.stopped is not None:
                    report.results.append(
                        BatchResult(batch.index, batch.describe(), batch.items, "not_run")
                    )
                    continue
                result = self._one(batch, self._safe_payload(batch, tables))
                report.results.append(result)
                failed_items += result.failed_items
                failed_batches += result.status == "failed"
                report.stopped = self.budget.exceeded(failed_items, failed_batches, len(batches))
                if report.stopped is not None:
                    self.log(f"Stopping early: {report.stopped}")
        finally:
            self.script.stop()
        return report

    def _safe_payload(self, batch: MiniBatch, tables: dict[str, Any]) -> Any:
        try:
            return _payload(batch, self.inputs, tables)
        except Exception as exc:
            return exc

    def _one(self, batch: MiniBatch, payload: Any) -> BatchResult:
        result = BatchResult(batch.index, batch.describe(), batch.items, "failed", rank=self.rank)
        started = time.monotonic()
        if isinstance(payload, Exception):
            result.error = f"reading the mini-batch failed: {payload}"
            result.tries = 1
        while result.tries < self.settings.run_max_try and result.status != "succeeded":
            result.tries += 1
            state, value = self.script.run(payload, float(self.settings.run_invocation_timeout))
            if state == "ok":
                result.status = "succeeded"
                result.rows = list(value)
                result.succeeded_items = len(value)
                result.error = None
            else:
                result.error = str(value)
                self.log(
                    f"mini-batch {batch.index} ({batch.describe()}), try {result.tries} of "
                    f"{self.settings.run_max_try} failed:\n{value}",
                    self.error_log,
                )
        result.seconds = round(time.monotonic() - started, 3)
        outcome = (
            f"succeeded ({result.succeeded_items} of {batch.items} items)"
            if result.status == "succeeded"
            else f"failed: {(result.error or '').strip().splitlines()[-1:]}"
        )
        self.log(
            f"mini-batch {batch.index} ({batch.describe()}): {outcome} after {result.tries} "
            f"tries, {result.seconds:.3f} s"
        )
        return result


# -- worker 0: every worker's results into the step's output ---------------------------------


@dataclass
class Exchange:
    """Each worker's report as a file of the run, where worker 0 finds them all."""

    files: FilesApi
    run_id: str
    attempt: int | None

    def name(self, rank: int) -> str:
        # Per attempt: a requeued run's worker 0 never merges an earlier attempt's results.
        return f"{RESULTS_PREFIX}attempt{self.attempt or 1}/process{rank:03d}.json"

    def put(self, report: WorkerReport) -> None:
        body = json.dumps(asdict(report)).encode()
        self.files.upload(self.run_id, self.name(report.rank), body, self.attempt)

    def gather(self, world: int) -> list[WorkerReport]:
        wanted = {self.name(rank) for rank in range(world)}
        while True:
            prefix = self.name(0).rpartition("/")[0] + "/"
            found = {f.name for f in self.files.list(self.run_id, prefix=prefix)}
            if wanted <= found:
                break
            time.sleep(POLL_S)
        reports = []
        for rank in range(world):
            data = json.loads(self.files.read(self.run_id, self.name(rank)))
            results = [BatchResult(**r) for r in data.pop("results")]
            reports.append(WorkerReport(results=results, **data))
        return reports


def _atomic_write(path: Path, text: str) -> None:
    """Write ``path`` whole: nothing reads (or uploads) half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(".parallel_run") / f"{path.name}.{os.getpid()}.partial"
    partial.parent.mkdir(exist_ok=True)
    partial.write_text(text)
    os.replace(partial, path)


def summarize(
    settings: ParallelRunSettings, reports: list[WorkerReport], total: int, output: Path
) -> str | None:
    """Write the step's output and its overview; why the step fails (None: it completes)."""
    results = sorted((r for report in reports for r in report.results), key=lambda r: r.index)
    failed = [r for r in results if r.status == "failed"]
    not_run = [r for r in results if r.status == "not_run"]
    failed_items = sum(r.failed_items for r in results if r.status != "not_run")
    succeeded_items = sum(r.succeeded_items for r in results)
    budget = Budget(
        error_threshold=settings.error_threshold,
        allowed_failed_count=settings.allowed_failed_count,
        allowed_failed_percent=settings.allowed_failed_percent,
    )
    why = budget.exceeded(failed_items, len(failed), total)
    if settings.output_action == "append_row":
        rows = [row for r in results for row in r.rows]
        _atomic_write(output / settings.append_row_file_name, "".join(f"{row}\n" for row in rows))
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(
        [
            "mini_batch",
            "description",
            "items",
            "status",
            "tries",
            "succeeded_items",
            "worker",
            "seconds",
        ]
    )
    for r in results:
        writer.writerow(
            [
                r.index,
                r.description,
                r.items,
                r.status,
                r.tries,
                r.succeeded_items,
                r.rank,
                r.seconds,
            ]
        )
    _atomic_write(PROCESSED_CSV, table.getvalue())
    lines = [
        f"Total mini-batches: {total}",
        f"Processed mini-batches: {total - len(not_run)}",
        f"Succeeded mini-batches: {total - len(failed) - len(not_run)}",
        f"Failed mini-batches: {len(failed)}",
        f"Mini-batches not run: {len(not_run)}",
        f"Succeeded items: {succeeded_items}",
        f"Failed items: {failed_items}",
        f"Workers: {len(reports)}",
        f"Output action: {settings.output_action}",
    ]
    if settings.output_action == "append_row":
        lines.append(f"Output file: {settings.append_row_file_name}")
    for r in failed:
        last = (r.error or "").strip().splitlines()
        lines.append(
            f"Failed mini-batch {r.index} ({r.description}) after {r.tries} tries on worker "
            f"{r.rank}: {last[-1] if last else 'no error text'}"
        )
    lines.append(
        f"The job failed: {why}."
        if why
        else "The job completed: its failures are within "
        "error_threshold, allowed_failed_count and allowed_failed_percent."
        if failed_items
        else "The job completed."
    )
    _atomic_write(OVERVIEW, "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return why


# -- entry point -----------------------------------------------------------------------------


def _inputs(names: list[str], definition: RunDefinition | None) -> list[InputData]:
    found = []
    for name in names:
        spec = definition.datasets.get(name) if definition is not None else None
        value = os.environ.get(name) if spec is not None else None
        value = value or os.environ.get(f"AZUREML_DATAREFERENCE_{name}")
        if not value:
            raise ValueError(f"input {name!r} is not among the run's data inputs")
        if spec is not None and spec.definition.dataset_type == "Tabular":
            d = spec.definition
            found.append(InputData(name, Path(value), True, d.separator, d.header, d.encoding))
        else:
            found.append(InputData(name, Path(value), False))
    return found


def main(argv: list[str]) -> int:
    own, user = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(prog="python -m trainforge.node.parallel_run")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--output", default=None)
    args = parser.parse_args(own)
    settings = ParallelRunSettings.model_validate_json(args.settings)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    node_rank = int(os.environ.get("NODE_RANK", "0"))
    config = os.environ.get("AZUREML_RUN_CONFIGURATION")
    definition = (
        RunDefinition.model_validate_json(Path(config).read_text())
        if config and Path(config).is_file()
        else None
    )
    output = Path(
        os.environ.get(f"AZUREML_DATAREFERENCE_{args.output}", "outputs")
        if args.output
        else "outputs"
    )
    inputs = _inputs(args.input, definition)
    batches = plan(settings, inputs)
    worker = Worker(settings, inputs, user, rank, world, node_rank)
    try:
        report = worker.process(batches)
    except InitFailed as exc:
        print(f"ParallelRunStep worker {rank}: {exc}", file=sys.stderr, flush=True)
        return 1
    context = RunContext()
    session = run_session(context.service_endpoint, context.run_token)
    exchange = Exchange(
        FilesApi(session.client, context.workspace_name), context.run_id, context.run_attempt
    )
    exchange.put(report)
    print(
        f"Worker {rank}: {sum(r.status == 'succeeded' for r in report.results)} of "
        f"{len(report.results)} mini-batches succeeded",
        flush=True,
    )
    if rank != 0:
        return 0
    why = summarize(settings, exchange.gather(world), len(batches), output)
    if why is not None:
        print(
            f"ParallelRunStep failed: {why}. See logs/overview.txt and logs/user/error/ of the "
            "step run.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
