"""ML pipelines: a 20-step linear pipeline of trivial steps, submit to finished, next to the
same 20 scripts submitted as plain runs one after another (the peer: the overhead the
pipeline adds per step), and the same pipeline again, every step reused."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, progress, quiet_call, timed, trainforge_home

SCRIPT = "print('step')\n"


def run(quick: bool = False) -> list[Row]:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace
    from trainforge.pipeline.core import Pipeline
    from trainforge.pipeline.steps import PythonScriptStep

    count = 10 if quick else 20
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-pipeline-"))
    try:
        folders = []
        for i in range(count):
            folder = source / f"s{i}"
            folder.mkdir()
            (folder / "step.py").write_text(SCRIPT + f"# step {i}\n")
            folders.append(str(folder))
        with trainforge_home("pipeline"):
            ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
            exp = Experiment(ws, "bench")
            progress("pipeline: warm-up run")
            exp.submit(
                ScriptRunConfig(source_directory=folders[0], script="step.py")
            ).wait_for_completion()
            progress(f"pipeline: {count} plain runs one after another")
            start = time.perf_counter()
            for folder in folders:
                r = exp.submit(ScriptRunConfig(source_directory=folder, script="step.py"))
                r.wait_for_completion()
                assert r.get_status() == "Completed"
            plain_s = time.perf_counter() - start
            steps = [
                PythonScriptStep("step.py", name=f"s{i}", source_directory=f)
                for i, f in enumerate(folders)
            ]
            for before, after in zip(steps, steps[1:], strict=False):
                after.run_after(before)
            pipeline = Pipeline(ws, [steps[-1]])
            progress(f"pipeline: {count}-step linear pipeline")
            first_s, pr = timed(
                lambda: pipeline.submit("bench-pipe").wait_for_completion(show_output=False)
            )
            assert pr == "Completed", pr
            progress("pipeline: the same pipeline, every step reused")
            reused_s, again = timed(lambda: pipeline.submit("bench-pipe"))
            assert again.wait_for_completion(show_output=False) == "Completed"
            reused_total = (again._refresh().end_time_utc - again._info.created_utc).total_seconds()  # type: ignore[operator]
            assert all(s.reused_run_id for s in again.get_graph().steps)
    finally:
        shutil.rmtree(source, ignore_errors=True)
    return [
        Row(
            f"{count}-step linear pipeline, submit -> finished",
            first_s,
            plain_s,
            "s",
            f"peer: the same {count} scripts as plain runs one after another; "
            f"per step {first_s / count:.2f} s vs {plain_s / count:.2f} s",
            higher_is_better=False,
        ),
        Row(
            f"{count}-step pipeline, every step reused (server: created -> ended)",
            reused_total,
            None,
            "s",
            f"{reused_total / count * 1e3:.0f} ms per step; submit() took {reused_s:.2f} s (snapshots)",
            higher_is_better=False,
        ),
    ]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for row in run(quick):
        print(row.as_dict())
