"""Interactive runs (``Experiment.start_logging``): lifecycle, metrics, tags, files, children.

Everything runs against the real control plane of the session; checks are the shapes
an Azure ML SDK v1 user relies on (shared/reference/azureml-v1.md section 4).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import run_python
from trainforge.core import Experiment, Run, Workspace
from trainforge.core.offline_run import OfflineRun
from trainforge.exceptions import RunEnvironmentException, UserErrorException

CONTEXT_VARIABLES = (
    "AZUREML_RUN_ID",
    "AZUREML_ARM_SUBSCRIPTION",
    "AZUREML_ARM_RESOURCEGROUP",
    "AZUREML_ARM_WORKSPACE_NAME",
    "AZUREML_ARM_PROJECT_NAME",
    "AZUREML_EXPERIMENT_ID",
    "AZUREML_WORKSPACE_ID",
    "AZUREML_SERVICE_ENDPOINT",
    "AZUREML_RUN_TOKEN",
    "AZUREML_RUN_TOKEN_EXPIRY",
)


@pytest.fixture(autouse=True)
def _in_tmp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in a scratch folder: default downloads and ./outputs land there, not in the repo."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _start(experiment: Experiment, **kwargs: object) -> Run:
    kwargs.setdefault("snapshot_directory", None)
    return experiment.start_logging(**kwargs)


def _is_uuid4(value: str) -> bool:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# -- lifecycle -------------------------------------------------------------------------------
def test_start_logging_returns_running_run(experiment: Experiment) -> None:
    run = _start(experiment)
    try:
        assert type(run) is Run
        assert run.status == "Running"
        assert run.get_status() == "Running"
        assert run.type is None
        assert run.experiment is experiment
        assert run.parent is None
        assert _is_uuid4(run.id)
    finally:
        run.complete()


def test_start_logging_with_snapshot_directory(experiment: Experiment, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('hi')\n")
    with _start(experiment, snapshot_directory=str(source)) as run:
        assert run.get_status() == "Running"
        assert run.get_properties().get("ContentSnapshotId")
    assert run.get_status() == "Completed"


def test_context_manager_completes(experiment: Experiment) -> None:
    with _start(experiment) as run:
        assert run.get_status() == "Running"
    assert run.get_status() == "Completed"
    details = run.get_details()
    assert details["status"] == "Completed"
    assert details["endTimeUtc"] is not None


def test_context_manager_fails_when_body_raises(experiment: Experiment) -> None:
    with pytest.raises(ValueError, match="kaboom"):
        with _start(experiment) as run:
            raise ValueError("kaboom 42")
    assert run.get_status() == "Failed"
    error = run.get_details()["error"]["error"]
    assert "kaboom 42" in error["message"]
    assert "ValueError" in error["message"]


def test_run_numbers_increment_per_experiment(ws: Workspace) -> None:
    first_exp = Experiment(ws, f"numbers-{uuid.uuid4().hex[:8]}")
    second_exp = Experiment(ws, f"numbers-{uuid.uuid4().hex[:8]}")
    runs = [_start(first_exp) for _ in range(3)]
    other = _start(second_exp)
    try:
        assert [run.number for run in runs] == [1, 2, 3]
        assert other.number == 1
    finally:
        for run in [*runs, other]:
            run.complete()


def test_interactive_and_child_run_ids_are_uuid4(experiment: Experiment) -> None:
    with _start(experiment) as run:
        child = run.child_run()
        children = run.create_children(count=2)
        for item in [run, child, *children]:
            assert _is_uuid4(item.id), item.id
        assert len({run.id, child.id, *(c.id for c in children)}) == 4
        for item in [child, *children]:
            item.complete()


def test_run_constructor_loads_existing_run(experiment: Experiment) -> None:
    with _start(experiment) as run:
        run.tag("k", "v")
        loaded = Run(experiment, run.id)
        assert loaded.id == run.id
        assert loaded.number == run.number
        assert loaded.status == "Running"
        assert loaded.get_tags() == {"k": "v"}
    assert Run(experiment, run.id).status == "Completed"
    with pytest.raises(UserErrorException):
        Run(experiment, str(uuid.uuid4()))


def test_cancel_interactive_run(experiment: Experiment) -> None:
    run = _start(experiment)
    run.cancel()
    assert run.get_status() == "Canceled"
    assert run.get_details()["endTimeUtc"] is not None


def test_fail_with_error_details(experiment: Experiment) -> None:
    run = _start(experiment)
    run.fail(error_details="boom")
    assert run.get_status() == "Failed"
    details = run.get_details()
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == "boom"
    assert details["endTimeUtc"] is not None


def test_fail_with_exception_and_error_code(experiment: Experiment) -> None:
    run = _start(experiment)
    run.fail(error_details=RuntimeError("disk full"), error_code="DiskError")
    error = run.get_details()["error"]["error"]
    assert error["code"] == "DiskError"
    assert "disk full" in error["message"]


def test_complete_twice_is_harmless(experiment: Experiment) -> None:
    """A second complete() (e.g. explicit complete() inside a ``with`` block) changes nothing."""
    with _start(experiment) as run:
        run.complete()
        first_end = run.get_details()["endTimeUtc"]
    run.complete()
    assert run.get_status() == "Completed"
    assert run.get_details()["endTimeUtc"] == first_end


def test_terminal_run_refuses_another_terminal_state(experiment: Experiment) -> None:
    run = _start(experiment)
    run.complete()
    with pytest.raises(UserErrorException) as info:
        run.fail(error_details="too late")
    assert "Completed" in str(info.value)
    assert run.get_status() == "Completed"
    assert "error" not in run.get_details()

    failed = _start(experiment)
    failed.fail(error_details="boom")
    with pytest.raises(UserErrorException) as info:
        failed.complete()
    assert "Failed" in str(info.value)
    assert failed.get_status() == "Failed"


def test_get_details_keys(experiment: Experiment) -> None:
    run = _start(experiment)
    running = run.get_details()
    for key in ("runId", "target", "status", "startTimeUtc", "properties", "logFiles"):
        assert key in running, key
    assert running["runId"] == run.id
    assert running["status"] == "Running"
    assert "endTimeUtc" not in running  # only once finished
    assert isinstance(running["properties"], dict)
    assert isinstance(running["logFiles"], dict)
    start = running["startTimeUtc"]
    assert isinstance(start, str) and start.endswith("Z")

    run.complete()
    done = run.get_details()
    assert done["status"] == "Completed"
    assert isinstance(done["endTimeUtc"], str) and done["endTimeUtc"].endswith("Z")
    assert done["endTimeUtc"] >= done["startTimeUtc"]


def test_repr_and_str(experiment: Experiment) -> None:
    with _start(experiment) as run:
        assert repr(run) == (
            f"Run(Experiment: {experiment.name},\nId: {run.id},\nType: None,\nStatus: Running)"
        )
        url = run.get_portal_url()
        assert run.id in url
        text = str(run)
        assert url in text
        assert experiment.name in text and run.id in text and "Running" in text


# -- metrics ---------------------------------------------------------------------------------
def test_metric_shapes(experiment: Experiment) -> None:
    with _start(experiment) as run:
        run.log("once", 0.5)
        for value in (1, 2, 3):
            run.log("thrice", value)
        run.log("text", "hello")
        run.log("flag", True)
        run.log_list("series", [1, 2.5, 3])
        run.log_row("rows", epoch=1, loss=0.9)
        run.log_row("rows", epoch=2, loss=0.4)
        run.log_table("table", {"x": [1, 2, 3], "y": [4, 5, 6]})
        metrics = run.get_metrics()
    assert metrics == {
        "once": 0.5,
        "thrice": [1, 2, 3],
        "text": "hello",
        "flag": True,
        "series": [1, 2.5, 3],
        "rows": {"epoch": [1, 2], "loss": [0.9, 0.4]},
        "table": {"x": [1, 2, 3], "y": [4, 5, 6]},
    }
    assert run.get_metrics(name="thrice") == {"thrice": [1, 2, 3]}
    assert run.get_metrics(name="rows") == {"rows": {"epoch": [1, 2], "loss": [0.9, 0.4]}}
    assert run.get_metrics(name="never-logged") == {}


@pytest.mark.parametrize("value", [[1, 2], (1, 2), {"a": 1}, None])
def test_log_of_non_scalar_raises_pointing_to_log_list(experiment: Experiment, value) -> None:
    with _start(experiment) as run:
        with pytest.raises(UserErrorException) as info:
            run.log("bad", value)
        assert "log_list" in str(info.value)
        assert "bad" in str(info.value)
        assert run.get_metrics() == {}


def test_log_image_from_file(experiment: Experiment, tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picture = tmp_path / "picture.png"
    fig = plt.figure()
    plt.plot([1, 2, 3], [3, 1, 2])
    fig.savefig(picture)
    plt.close(fig)

    with _start(experiment) as run:
        run.log_image("confusion", path=str(picture))
        value = run.get_metrics(name="confusion")["confusion"]
        prefix = f"aml://artifactId/ExperimentRun/dcid.{run.id}/"
        assert value.startswith(prefix)
        file_name = value[len(prefix) :]
        assert file_name.startswith("confusion_") and file_name.endswith(".png")
        assert file_name in run.get_file_names()
        run.download_file(file_name, str(tmp_path / "back.png"))
        assert (tmp_path / "back.png").read_bytes() == picture.read_bytes()


@pytest.mark.parametrize("use_module", [False, True], ids=["figure", "pyplot"])
def test_log_image_from_matplotlib_plot(
    experiment: Experiment, tmp_path: Path, use_module: bool
) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([0, 1], [1, 0])
    try:
        with _start(experiment) as run:
            run.log_image("curve", plot=plt if use_module else fig)
            value = run.get_metrics()["curve"]
    finally:
        plt.close(fig)
    prefix = f"aml://artifactId/ExperimentRun/dcid.{run.id}/"
    assert value.startswith(prefix)
    file_name = value[len(prefix) :]
    assert file_name.endswith(".png") and file_name in run.get_file_names()
    run.download_file(file_name, str(tmp_path / "curve.png"))
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_log_image_needs_exactly_one_source(experiment: Experiment) -> None:
    with _start(experiment) as run:
        with pytest.raises(UserErrorException):
            run.log_image("nothing")


def test_get_metrics_recursive(experiment: Experiment) -> None:
    with _start(experiment) as run:
        run.log("loss", 1.0)
        with run.child_run() as child:
            child.log("loss", 0.5)
            child.log("loss", 0.25)
            with child.child_run() as grandchild:
                grandchild.log("acc", 0.9)
        found = run.get_metrics(recursive=True)
    assert found == {
        run.id: {"loss": 1.0},
        child.id: {"loss": [0.5, 0.25]},
        grandchild.id: {"acc": 0.9},
    }
    assert child.get_metrics(recursive=True) == {
        child.id: {"loss": [0.5, 0.25]},
        grandchild.id: {"acc": 0.9},
    }


@pytest.mark.slow
def test_hundred_thousand_log_calls(experiment: Experiment) -> None:
    count = 100_000
    with _start(experiment) as run:
        # How fast run.log is (it must not block on the network) is bench/bench_metrics.py's
        # figure; here every call's value arrives, in order.
        for i in range(count):
            run.log("step", i)
        values = run.get_metrics(name="step")["step"]
    assert len(values) == count
    assert values == list(range(count))
    assert run.get_status() == "Completed"


CONCURRENT_LOGGER = """
import json, time
from pathlib import Path
from trainforge.core import Workspace, Experiment

barrier = Path(BARRIER)
ws = Workspace.get("test-ws")
exp = Experiment(ws, EXPERIMENT)
(barrier / f"ready-{INDEX}").touch()
deadline = time.monotonic() + 60
while not (barrier / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
run = exp.start_logging(snapshot_directory=None, outputs=str(barrier / "none"))
for i in range(5000):
    run.log("value", i)
    if i % 500 == 499:
        run.flush()
run.complete()
print(json.dumps({"id": run.id, "number": run.number}))
"""


@pytest.mark.slow
def test_two_processes_log_to_the_same_experiment(experiment: Experiment, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()

    def child(index: int):  # type: ignore[no-untyped-def]
        header = f"BARRIER = {str(barrier)!r}\nEXPERIMENT = {experiment.name!r}\nINDEX = {index}\n"
        return run_python(header + CONCURRENT_LOGGER)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(child, i) for i in range(2)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            (barrier / f"ready-{i}").exists() for i in range(2)
        ):
            if any(f.done() for f in futures):
                break
            time.sleep(0.05)
        (barrier / "go").touch()
        results = [f.result() for f in futures]

    reports = []
    for result in results:
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert reports[0]["id"] != reports[1]["id"]
    assert reports[0]["number"] != reports[1]["number"]
    for report in reports:
        run = Run(experiment, report["id"])
        assert run.get_status() == "Completed"
        values = run.get_metrics(name="value")["value"]
        assert len(values) == 5000
        assert values == list(range(5000))
    assert sorted(run.number for run in experiment.get_runs()) == sorted(
        report["number"] for report in reports
    )


# -- tags and properties ---------------------------------------------------------------------
def test_tags(experiment: Experiment) -> None:
    with _start(experiment) as run:
        run.tag("novalue")
        run.tag("color", "red")
        run.set_tags({"size": "L", "shape": "round"})
        assert run.get_tags() == {
            "novalue": None,
            "color": "red",
            "size": "L",
            "shape": "round",
        }
        run.set_tags({"color": "blue"})  # merge, not replace
        run.remove_tags(["size", "shape"])
        assert run.get_tags() == {"novalue": None, "color": "blue"}
        assert run.tags == {"novalue": None, "color": "blue"}


def test_add_properties_is_add_only(experiment: Experiment) -> None:
    with _start(experiment) as run:
        run.add_properties({"framework": "torch", "version": "1"})
        run.add_properties({"framework": "torch"})  # the same value again is fine
        with pytest.raises(UserErrorException) as info:
            run.add_properties({"framework": "tensorflow"})
        assert "framework" in str(info.value)
        properties = run.get_properties()
        assert properties["framework"] == "torch"
        assert properties["version"] == "1"


# -- files -----------------------------------------------------------------------------------
def test_upload_file_from_path_bytes_and_stream(experiment: Experiment, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00model\xff")
    with _start(experiment) as run:
        run.upload_file("outputs/model.bin", str(source))
        run.upload_file("notes.txt", b"plain bytes")
        run.upload_file("stream/data.txt", io.BytesIO(b"from a stream"))
        assert sorted(run.get_file_names()) == [
            "notes.txt",
            "outputs/model.bin",
            "stream/data.txt",
        ]
        run.download_file("outputs/model.bin", str(tmp_path / "copy.bin"))
        assert (tmp_path / "copy.bin").read_bytes() == b"\x00model\xff"


def test_upload_folder_names_are_name_slash_relative(
    experiment: Experiment, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    (folder / "sub" / "deeper" / "c.txt").write_text("c")
    with _start(experiment) as run:
        run.upload_folder("logs/up", str(folder))
        assert sorted(run.get_file_names()) == [
            "logs/up/a.txt",
            "logs/up/sub/b.txt",
            "logs/up/sub/deeper/c.txt",
        ]


def test_download_file_default_and_explicit_path(
    experiment: Experiment, tmp_path: Path, _in_tmp_folder: Path
) -> None:
    with _start(experiment) as run:
        run.upload_file("outputs/deep/result.txt", b"42")
        run.download_file("outputs/deep/result.txt")
        assert (_in_tmp_folder / "result.txt").read_bytes() == b"42"

        target = tmp_path / "elsewhere" / "named.txt"
        run.download_file("outputs/deep/result.txt", output_file_path=str(target))
        assert target.read_bytes() == b"42"

        with pytest.raises(UserErrorException):
            run.download_file("outputs/missing.txt", str(tmp_path / "missing.txt"))
        assert not (tmp_path / "missing.txt").exists()
        assert not list(tmp_path.glob("*.partial"))


def test_download_files_with_prefix(experiment: Experiment, tmp_path: Path) -> None:
    with _start(experiment) as run:
        run.upload_file("outputs/a.txt", b"a")
        run.upload_file("outputs/sub/b.txt", b"b")
        run.upload_file("other/c.txt", b"c")

        with_prefix = tmp_path / "with"
        run.download_files(prefix="outputs", output_directory=str(with_prefix))
        assert _tree(with_prefix) == [
            "outputs",
            "outputs/a.txt",
            "outputs/sub",
            "outputs/sub/b.txt",
        ]
        assert (with_prefix / "outputs/sub/b.txt").read_bytes() == b"b"

        without = tmp_path / "without"
        run.download_files(prefix="outputs/", output_directory=str(without), append_prefix=False)
        assert _tree(without) == ["a.txt", "sub", "sub/b.txt"]
        assert (without / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("bad", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt", "/abs"])
def test_unsafe_file_names_are_refused(
    experiment: Experiment, tmp_path: Path, _in_tmp_folder: Path, bad: str
) -> None:
    with _start(experiment) as run:
        before_cwd = _tree(_in_tmp_folder)
        with pytest.raises(UserErrorException) as info:
            run.upload_file(bad, b"evil")
        assert "name" in str(info.value)
        assert run.get_file_names() == []
        with pytest.raises(UserErrorException):
            run.download_file(bad)
        assert _tree(_in_tmp_folder) == before_cwd
        assert not (tmp_path / "evil.txt").exists()
        assert not Path("/etc/evil.txt").exists()


def test_refused_download_writes_no_folders(experiment: Experiment, tmp_path: Path) -> None:
    with _start(experiment) as run:
        target = tmp_path / "new-folder" / "inner" / "evil.txt"
        with pytest.raises(UserErrorException):
            run.download_file("../evil.txt", output_file_path=str(target))
        assert not (tmp_path / "new-folder").exists()


def test_outputs_folder_uploaded_on_complete(experiment: Experiment, tmp_path: Path) -> None:
    outputs = tmp_path / "my-outputs"
    run = _start(experiment, outputs=str(outputs))
    (outputs / "model").mkdir(parents=True)
    (outputs / "model" / "weights.bin").write_bytes(b"w")
    (outputs / "metrics.json").write_text("{}")
    assert run.get_file_names() == []  # nothing is uploaded before complete()
    run.complete()
    assert sorted(run.get_file_names()) == ["outputs/metrics.json", "outputs/model/weights.bin"]
    run.download_file("outputs/model/weights.bin", str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == b"w"


# -- children --------------------------------------------------------------------------------
def test_child_run_context_manager_and_parent(experiment: Experiment) -> None:
    with _start(experiment) as run:
        with run.child_run(name="step-1") as child:
            assert child.get_status() == "Running"
            parent = child.parent
            assert isinstance(parent, Run)
            assert parent.id == run.id
        assert child.get_status() == "Completed"
        assert run.get_status() == "Running"
    assert run.get_status() == "Completed"


def test_create_children_with_count(experiment: Experiment) -> None:
    with _start(experiment) as run:
        children = run.create_children(count=3)
        assert len(children) == 3
        assert sorted(child.get_tags()["azureml.batch_child_number"] for child in children) == [
            "0",
            "1",
            "2",
        ]
        for child in children:
            assert child.parent.id == run.id
            child.complete()


def test_create_children_with_tag_values(experiment: Experiment) -> None:
    with _start(experiment) as run:
        children = run.create_children(tag_key="lr", tag_values=["0.1", "0.01"])
        assert [child.get_tags() for child in children] == [{"lr": "0.1"}, {"lr": "0.01"}]
        for child in children:
            child.complete()


def test_get_children_direct_and_recursive(experiment: Experiment) -> None:
    with _start(experiment) as run:
        children = run.create_children(count=2)
        grandchild = children[0].child_run()
        direct = list(run.get_children())
        assert {child.id for child in direct} == {child.id for child in children}
        assert all(isinstance(child, Run) for child in direct)
        everything = list(run.get_children(recursive=True))
        assert {child.id for child in everything} == {
            *(child.id for child in children),
            grandchild.id,
        }
        assert [child.id for child in children[0].get_children()] == [grandchild.id]
        for item in (grandchild, *children):
            item.complete()
    # children are not top-level runs of the experiment
    assert [listed.id for listed in experiment.get_runs()] == [run.id]


# -- listing ---------------------------------------------------------------------------------
def test_get_runs_newest_first_and_filters(experiment: Experiment) -> None:
    first = _start(experiment)
    first.tag("key")
    first.complete()
    second = _start(experiment)
    second.set_tags({"k": "v"})
    second.complete()
    third = _start(experiment)
    third.set_tags({"k": "other"})
    third.add_properties({"p": "v"})
    third.complete()

    assert [run.id for run in experiment.get_runs()] == [third.id, second.id, first.id]
    assert [run.id for run in experiment.get_runs(tags="key")] == [first.id]
    assert [run.id for run in experiment.get_runs(tags="k")] == [third.id, second.id]
    assert [run.id for run in experiment.get_runs(tags={"k": "v"})] == [second.id]
    assert [run.id for run in experiment.get_runs(properties={"p": "v"})] == [third.id]
    assert [run.id for run in experiment.get_runs(properties="p")] == [third.id]
    assert list(experiment.get_runs(tags={"k": "nope"})) == []
    assert all(run.status == "Completed" for run in experiment.get_runs())


# -- Run.get_context outside a run -----------------------------------------------------------
def test_get_context_outside_a_run_is_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name in CONTEXT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    run = Run.get_context()
    assert isinstance(run, OfflineRun)
    assert run.id.startswith("OfflineRun_")
    assert _is_uuid4(run.id[len("OfflineRun_") :])
    run.log("accuracy", 0.75)
    out = capsys.readouterr().out
    assert "Attempted to log scalar metric accuracy:\n0.75" in out
    run.log_list("losses", [1, 2])
    assert "Attempted to log list metric losses:" in capsys.readouterr().out
    run.complete()  # a no-op, never raises


def test_get_context_without_offline_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONTEXT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RunEnvironmentException):
        Run.get_context(allow_offline=False)
