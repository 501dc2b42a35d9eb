"""Datasets: file and tabular datasets on datastores, the versioned registry, and dataset
inputs of runs (mounted, downloaded, direct)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage_services import AZURITE_ACCOUNT, AZURITE_KEY, azurite
from trainforge.core import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace
from trainforge.exceptions import UserErrorException
from trainforge.node.work_root import datastore_cache


@pytest.fixture(scope="module")
def blob(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Datastore]:
    with azurite(tmp_path_factory.mktemp("azurite")) as az:
        yield Datastore.register_azure_blob_container(
            ws, "dataset_blob", "datasets", AZURITE_ACCOUNT,
            account_key=AZURITE_KEY, endpoint=az.blob_endpoint,
            create_if_not_exists=True, overwrite=True,
        )  # fmt: skip


@pytest.fixture(scope="module")
def iris(blob: Datastore, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("iris")
    (folder / "part1.csv").write_text("sepal;species\n5.1;setosa\n7.0;versicolor\n")
    (folder / "more").mkdir()
    (folder / "more" / "part2.csv").write_text("sepal;species\n6.3;virginica\n")
    blob.upload(str(folder), target_path="tables/iris", overwrite=True, show_progress=False)
    return "tables/iris"


def test_file_dataset_lists_and_downloads(blob: Datastore, iris: str, tmp_path: Path) -> None:
    files = Dataset.File.from_files((blob, iris))
    assert files.to_path() == ["/more/part2.csv", "/part1.csv"]
    single = Dataset.File.from_files(blob.path(f"{iris}/part1.csv"))
    assert single.to_path() == ["/part1.csv"]
    globbed = Dataset.File.from_files((blob, "tables/*/more/*.csv"))
    assert globbed.to_path() == ["/iris/more/part2.csv"]
    local = files.download(str(tmp_path / "d"))
    assert sorted(Path(p).relative_to(tmp_path / "d").as_posix() for p in local) == [
        "more/part2.csv",
        "part1.csv",
    ]
    with files.mount() as mounted:
        assert (Path(mounted.mount_point) / "part1.csv").read_text().startswith("sepal")
    with pytest.raises(UserErrorException, match="no files found"):
        Dataset.File.from_files((blob, "tables/none"))


def test_tabular_dataset_reads_with_pandas(blob: Datastore, iris: str) -> None:
    table = Dataset.Tabular.from_delimited_files((blob, f"{iris}/**/*.csv"), separator=";")
    frame = table.to_pandas_dataframe()
    assert sorted(frame["species"]) == ["setosa", "versicolor", "virginica"]
    assert frame["sepal"].dtype.kind == "f"
    with_path = Dataset.Tabular.from_delimited_files(
        (blob, f"{iris}/part1.csv"), separator=";", include_path=True
    ).to_pandas_dataframe()
    assert list(with_path["Path"]) == ["/part1.csv", "/part1.csv"]


def test_upload_directory_returns_a_dataset(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "images"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.png").write_bytes(b"png")
    (src / "notes.txt").write_text("skip me")
    store = ws.get_default_datastore()
    dataset = Dataset.File.upload_directory(
        str(src), (store, "images"), pattern="*.png", overwrite=True, show_progress=False
    )
    assert dataset.to_path() == ["/0.png", "/1.png", "/2.png"]


def test_registered_versions_are_immutable(ws: Workspace, blob: Datastore, iris: str) -> None:
    first = Dataset.File.from_files((blob, f"{iris}/part1.csv"))
    v1 = first.register(ws, "iris-files", description="one part", tags={"kind": "csv"})
    assert (v1.name, v1.version, v1.description, v1.tags) == (
        "iris-files",
        1,
        "one part",
        {"kind": "csv"},
    )
    with pytest.raises(UserErrorException, match="already a dataset registered"):
        Dataset.File.from_files((blob, iris)).register(ws, "iris-files")
    v2 = Dataset.File.from_files((blob, iris)).register(ws, "iris-files", create_new_version=True)
    assert v2.version == 2
    assert Dataset.get_by_name(ws, "iris-files").version == 2
    old = Dataset.get_by_name(ws, "iris-files", version=1)
    assert old.to_path() == ["/part1.csv"] and old.id == v1.id
    assert Dataset.get_by_id(ws, v2.id).version == 2
    assert ws.datasets["iris-files"].version == 2
    with pytest.raises(UserErrorException, match="already registered as iris-files:1"):
        first.register(ws, "iris-copy")
    with pytest.raises(UserErrorException, match="no version 7"):
        Dataset.get_by_name(ws, "iris-files", version=7)
    with pytest.raises(UserErrorException, match="No dataset named"):
        Dataset.get_by_name(ws, "never-registered")
    with pytest.raises(UserErrorException, match="name"):
        first.register(ws, "bad name!")


INPUTS = """
import json, os, pathlib, sys
from trainforge.core import Run
run = Run.get_context()
seen = {}
for name, value in run.input_datasets.items():
    if isinstance(value, str):
        p = pathlib.Path(value)
        seen[name] = sorted(x.relative_to(p).as_posix() for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p.read_text()[:5]]
    else:
        seen[name] = ["direct", value.name, len(value.to_pandas_dataframe())]
seen["argv"] = sys.argv[1:]
seen["vars"] = os.environ.get("AZUREML_DATASET_ENVIRONMENT_VARS")
pathlib.Path("outputs").mkdir(exist_ok=True)
pathlib.Path("outputs/seen.json").write_text(json.dumps(seen))
"""


def test_a_run_consumes_named_inputs(
    ws: Workspace, blob: Datastore, iris: str, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    files = Dataset.File.from_files([(blob, f"{iris}/part1.csv"), (blob, f"{iris}/more")])
    files = files.register(ws, "iris-input", create_new_version=True)
    table = Dataset.Tabular.from_delimited_files((blob, f"{iris}/part1.csv"), separator=";")
    (project / "inputs.py").write_text(INPUTS)
    config = ScriptRunConfig(
        str(project),
        "inputs.py",
        arguments=[
            "--mounted", files.as_named_input("mounted").as_mount(),
            "--downloaded", files.as_named_input("downloaded").as_download(),
            "--single", Dataset.File.from_files((blob, f"{iris}/part1.csv")).as_named_input("single").as_mount(),
            "--table", table.as_named_input("table"),
        ],
    )  # fmt: skip
    run = experiment.submit(config)
    run.wait_for_completion(show_output=False)
    run.download_file("outputs/seen.json", str(tmp_path / "seen.json"))
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["mounted"] == ["part1.csv", "part2.csv"]
    assert seen["downloaded"] == ["part1.csv", "part2.csv"]
    assert seen["single"] == ["sepal"]  # one file: the path is the file itself
    assert seen["table"] == ["direct", None, 2]
    assert seen["argv"][0] == "--mounted" and Path(seen["argv"][1]).name == "mounted"
    assert seen["argv"][6:] == ["--table", ""]  # direct mode: an unregistered dataset has no id
    assert seen["vars"] == "mounted:mounted,downloaded:downloaded,single:single,table:table"


def test_a_raw_dataset_in_arguments_is_refused(blob: Datastore, iris: str, project: Path) -> None:
    (project / "x.py").write_text("")
    files = Dataset.File.from_files((blob, iris))
    config = ScriptRunConfig(str(project), "x.py", arguments=["--data", files])
    with pytest.raises(UserErrorException, match="as_named_input"):
        from trainforge.core.script_run import definition_of

        definition_of(config.run_config, "x.py")
    with pytest.raises(UserErrorException, match="name"):
        files.as_named_input("has space")


def test_mount_cache_is_filled_once_and_refreshed_on_change(
    ws: Workspace,
    blob: Datastore,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,
    tf_home: Path,
) -> None:
    data = tmp_path / "cached"
    data.mkdir()
    (data / "weights.txt").write_text("v1")
    blob.upload(str(data), "cache-test", overwrite=True, show_progress=False)
    (project / "read.py").write_text(
        "import sys, pathlib; print('READ', (pathlib.Path(sys.argv[1]) / 'weights.txt').read_text())"
    )
    cached = datastore_cache(tf_home, ws.name) / "dataset_blob" / "cache-test" / "weights.txt"

    def read() -> str:
        run = experiment.submit(
            ScriptRunConfig(str(project), "read.py", arguments=[blob.path("cache-test").as_mount()])
        )
        run.wait_for_completion(show_output=False)
        run.download_file("azureml-logs/70_driver_log.txt", str(tmp_path / "log.txt"))
        return (tmp_path / "log.txt").read_text()

    assert "READ v1" in read()
    first_inode = cached.stat().st_ino
    assert "READ v1" in read()
    assert cached.stat().st_ino == first_inode  # reused, not fetched again
    (data / "weights.txt").write_text("v2")
    blob.upload(str(data), "cache-test", overwrite=True, show_progress=False)
    assert "READ v2" in read()


def test_take_skip_and_columns_cut_what_a_tabular_dataset_reads(
    ws: Workspace, tmp_path: Path
) -> None:
    datastore = ws.get_default_datastore()
    (tmp_path / "t.csv").write_text("a,b,c\n1,x,10\n2,y,20\n3,z,30\n4,w,40\n")
    datastore.upload_files(
        [str(tmp_path / "t.csv")], target_path="cut", overwrite=True, show_progress=False
    )
    table = Dataset.Tabular.from_delimited_files(path=[(datastore, "cut/t.csv")])
    assert table.take(2).to_pandas_dataframe()["a"].tolist() == [1, 2]
    assert table.skip(1).take(2).to_pandas_dataframe()["a"].tolist() == [2, 3]
    assert list(table.drop_columns(["b"]).to_pandas_dataframe().columns) == ["a", "c"]
    assert list(table.keep_columns("c").to_pandas_dataframe().columns) == ["c"]
    assert table.to_pandas_dataframe().shape == (4, 3)  # the dataset itself is unchanged
    with pytest.raises(UserErrorException, match=r"columns: \['nope'\] not in the dataset"):
        table.drop_columns("nope").to_pandas_dataframe()
    with pytest.raises(UserErrorException, match="take: a TabularDataset after take"):
        table.take(2).register(ws, "cut")
    with pytest.raises(UserErrorException, match="drop_columns, skip: .* given to a run"):
        table.skip(1).drop_columns("b").as_named_input("cut")
    with pytest.raises(UserErrorException, match="count: expected a whole number"):
        table.take(-1)
