"""ParallelRunStep on a real control plane and a real 2-node cluster, written as the public
parallel-run sample notebook (file-dataset-image-inference-mnist) with ``azureml`` ->
``trainforge`` in the imports: a FileDataset registered from files on the default
datastore, ``ParallelRunConfig``, ``ParallelRunStep``, ``Pipeline``, submit, wait, then the
step's output downloaded and ``parallel_run_step.txt`` read. Also: failures beyond
``error_threshold`` fail the step and the pipeline; a TabularDataset's rows arrive as
DataFrames; and the SDK's checks of the configuration."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_file_bytes
from tests.test_pipelines import write
from trainforge.core import Dataset, Environment, Experiment, Workspace
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.exceptions import ActivityFailedException, UserErrorException
from trainforge.node import parallel_run
from trainforge.pipeline.core import Pipeline, PipelineData, PipelineParameter
from trainforge.pipeline.steps import ParallelRunConfig, ParallelRunStep
from trainforge.schemas.parallel_run import Budget, ParallelRunSettings

# The sample's digit_identification.py, on text "images": each file holds a number, the
# "prediction" is its square. The mini-batch holding file_137 fails every try; the one
# holding file_042 takes its process down on its first try only (the marker says so);
# with --hang, the one holding file_100 hangs (past run_invocation_timeout).
SCORE = """
import argparse, os, time

def init():
    global marker, hang
    parser = argparse.ArgumentParser()
    parser.add_argument("--marker", type=str)
    parser.add_argument("--hang", action="store_true")
    args, _ = parser.parse_known_args()
    marker, hang = args.marker, args.hang

def run(mini_batch):
    result_list = []
    for image in mini_batch:
        name = os.path.basename(image)
        if name == "file_137.txt":
            raise ValueError("cannot read " + name)
        if name == "file_042.txt" and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)
        if name == "file_100.txt" and hang:
            time.sleep(3600)
        with open(image) as f:
            value = int(f.read())
        result_list.append("{}: {}".format(name, value * value))
    return result_list
"""

TABULAR_SCORE = """
import pandas as pd

def init():
    pass

def run(mini_batch):
    assert isinstance(mini_batch, pd.DataFrame)
    out = pd.DataFrame({"id": mini_batch["id"], "double": mini_batch["value"] * 2})
    return out[out["id"] % 50 != 7]   # rows with id ending in 7 (of 50) fail
"""


def upload_numbers(ws: Workspace, tmp_path: Path, count: int) -> str:
    """``count`` files file_000.txt... holding their number, on the default datastore."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(count):
        (folder / f"file_{i:03d}.txt").write_text(str(i))
    target = f"prs-{uuid.uuid4().hex[:8]}/images"
    ws.get_default_datastore().upload(str(folder), target_path=target, show_progress=False)
    return target


def processed(step_run) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = run_file_bytes(step_run, "logs/sys/job_report/processed_mini-batches.csv").decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.slow
def test_parallel_run_over_200_files_on_2_nodes_x_2_processes(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    compute_target = clusters(min_nodes=0, max_nodes=2)
    def_data_store = ws.get_default_datastore()
    path = upload_numbers(ws, tmp_path, 200)
    input_images = Dataset.File.from_files((def_data_store, path)).register(
        ws, f"numbers-{uuid.uuid4().hex[:6]}", create_new_version=True
    )
    output_dir = PipelineData(name="inferences", datastore=def_data_store)
    scripts_folder = write(tmp_path / "scripts", "digit_identification.py", SCORE)
    parallel_run_config = ParallelRunConfig(
        source_directory=scripts_folder,
        entry_script="digit_identification.py",
        mini_batch_size="5",
        error_threshold=10,
        output_action="append_row",
        environment=Environment("batch-env"),
        compute_target=compute_target,
        process_count_per_node=2,
        node_count=2,
    )
    parallelrun_step = ParallelRunStep(
        name="predict-digits-mnist",
        parallel_run_config=parallel_run_config,
        inputs=[input_images.as_named_input("input_images")],
        output=output_dir,
        arguments=["--marker", str(tmp_path / "crashed-once")],
        allow_reuse=False,
    )
    pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
    pipeline_run = Experiment(ws, "digit_identification").submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"

    batch_run = pipeline_run.find_step_run(parallelrun_step.name)[0]
    assert batch_run.get_status() == "Completed"
    batch_output = batch_run.get_output_data(output_dir.name)
    target = tmp_path / "results"
    batch_output.download(local_path=str(target))
    result = target / batch_output.path_on_datastore / "parallel_run_step.txt"
    lines = result.read_text().splitlines()
    # 40 mini-batches of 5 files, in mini-batch order; the one of file_137 failed.
    failed = set(range(135, 140))
    assert lines == [f"file_{i:03d}.txt: {i * i}" for i in range(200) if i not in failed]

    table = processed(batch_run)
    assert len(table) == 40
    assert {row["worker"] for row in table} == {"0", "1", "2", "3"}  # 2 nodes x 2 processes
    by_batch = {int(row["mini_batch"]): row for row in table}
    assert by_batch[27]["status"] == "failed" and by_batch[27]["tries"] == "3"
    assert by_batch[8]["status"] == "succeeded" and by_batch[8]["tries"] == "2"  # its crash
    assert (tmp_path / "crashed-once").exists()
    overview = run_file_bytes(batch_run, "logs/overview.txt").decode()
    assert "Total mini-batches: 40" in overview
    assert "Failed mini-batches: 1" in overview
    assert "Failed items: 5" in overview
    assert "ValueError: cannot read file_137.txt" in overview
    errors = [n for n in batch_run.get_file_names() if n.startswith("logs/user/error/")]
    assert errors
    texts = "".join(run_file_bytes(batch_run, name).decode() for name in errors)
    assert "Traceback (most recent call last)" in texts
    assert "exited with code 3 while running the mini-batch" in texts


@pytest.mark.slow
def test_failures_beyond_error_threshold_fail_the_step_and_the_pipeline(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    compute_target = clusters(min_nodes=0, max_nodes=1)
    path = upload_numbers(ws, tmp_path, 150)
    dataset = Dataset.File.from_files((ws.get_default_datastore(), path))
    config = ParallelRunConfig(
        source_directory=write(tmp_path / "scripts", "score.py", SCORE),
        entry_script="score.py",
        mini_batch_size=10,
        error_threshold=5,  # file_100's and file_137's mini-batches fail 10 items each
        output_action="append_row",
        environment=Environment("batch-env"),
        compute_target=compute_target,
        process_count_per_node=2,
        node_count=1,
        run_max_try=2,
        run_invocation_timeout=2,
    )
    step = ParallelRunStep(
        name="too-many-failures",
        parallel_run_config=config,
        inputs=[dataset.as_named_input("numbers")],
        output=PipelineData("scores", datastore=ws.get_default_datastore()),
        arguments=["--marker", str(tmp_path / "crashed-once"), "--hang"],
    )
    pipeline_run = Experiment(ws, "prs-failing").submit(Pipeline(ws, [step]))
    with pytest.raises(ActivityFailedException):
        pipeline_run.wait_for_completion(show_output=False)
    assert pipeline_run.get_status() == "Failed"
    step_run = pipeline_run.find_step_run("too-many-failures")[0]
    assert step_run.get_status() == "Failed"
    error = step_run.get_details()["error"]["error"]["message"]
    assert "20 failed items exceed error_threshold=5" in error
    # 15 mini-batches: worker 0 takes 0, 2, ... 14 and stops after mini-batch 10 timed out
    # (its own 10 failed items are over the threshold); worker 1 fails 13, its last.
    overview = run_file_bytes(step_run, "logs/overview.txt").decode()
    assert "The job failed: 20 failed items exceed error_threshold=5." in overview
    assert "Mini-batches not run: 2" in overview
    assert "run_invocation_timeout=2" in overview


@pytest.mark.slow
def test_a_tabular_dataset_arrives_as_dataframes(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    compute_target = clusters(min_nodes=0, max_nodes=1)
    folder = tmp_path / "table"
    folder.mkdir()
    for part in range(2):
        rows = "".join(f"{i},{i * 0.5}\n" for i in range(part * 100, part * 100 + 100))
        (folder / f"part_{part}.csv").write_text("id,value\n" + rows)
    target = f"prs-{uuid.uuid4().hex[:8]}/table"
    ws.get_default_datastore().upload(str(folder), target_path=target, show_progress=False)
    table = Dataset.Tabular.from_delimited_files((ws.get_default_datastore(), f"{target}/*.csv"))
    output = PipelineData("doubled", datastore=ws.get_default_datastore())
    config = ParallelRunConfig(
        source_directory=write(tmp_path / "scripts", "double.py", TABULAR_SCORE),
        entry_script="double.py",
        mini_batch_size="200B",
        error_threshold=10,
        output_action="append_row",
        append_row_file_name="doubled.txt",
        environment=Environment("batch-env"),
        compute_target=compute_target,
        process_count_per_node=2,
        node_count=1,
    )
    step = ParallelRunStep(
        name="double-values",
        parallel_run_config=config,
        inputs=[table.as_named_input("values")],
        output=output,
    )
    pipeline_run = Experiment(ws, "prs-tabular").submit(Pipeline(ws, [step]))
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"
    step_run = pipeline_run.find_step_run("double-values")[0]
    data = step_run.get_output_data("doubled")
    data.download(local_path=str(tmp_path / "out"))
    lines = (tmp_path / "out" / data.path_on_datastore / "doubled.txt").read_text().splitlines()
    assert lines == [f"{i} {i * 1.0}" for i in range(200) if i % 50 != 7]
    overview = run_file_bytes(step_run, "logs/overview.txt").decode()
    assert "Failed items: 4" in overview
    assert "Failed mini-batches: 0" in overview
    assert len(processed(step_run)) > 2  # 200 bytes of about 8-byte rows: many mini-batches


@pytest.mark.slow
def test_an_init_that_fails_fails_the_step_with_its_traceback(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    compute_target = clusters(min_nodes=0, max_nodes=1)
    path = upload_numbers(ws, tmp_path, 4)
    broken = "def init():\n    raise RuntimeError('no model here')\n\ndef run(mini_batch):\n    return mini_batch\n"
    config = ParallelRunConfig(
        source_directory=write(tmp_path / "scripts", "broken.py", broken),
        entry_script="broken.py",
        error_threshold=-1,
        output_action="summary_only",
        environment=Environment("batch-env"),
        compute_target=compute_target,
        node_count=1,
    )
    step = ParallelRunStep(
        name="broken-init",
        parallel_run_config=config,
        inputs=[Dataset.File.from_files((ws.get_default_datastore(), path)).as_named_input("n")],
    )
    pipeline_run = Experiment(ws, "prs-broken").submit(Pipeline(ws, [step]))
    assert pipeline_run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    step_run = pipeline_run.find_step_run("broken-init")[0]
    message = step_run.get_details()["error"]["error"]["message"]
    assert "RuntimeError: no model here" in message


# -- the SDK's checks, and the driver's pure parts (no process) ------------------------------


def test_the_configuration_is_checked_as_the_sdk_checks_it(tmp_path: Path) -> None:
    folder = write(tmp_path / "s", "score.py", SCORE)
    base = dict(
        source_directory=folder,
        entry_script="score.py",
        error_threshold=1,
        output_action="append_row",
        environment=Environment("e"),
        compute_target="cpu-cluster",
        node_count=1,
    )
    with pytest.raises(UserErrorException, match="output_action"):
        ParallelRunConfig(**{**base, "output_action": "append"})  # type: ignore[arg-type]
    with pytest.raises(UserErrorException, match="error_threshold"):
        ParallelRunConfig(**{**base, "error_threshold": -2})  # type: ignore[arg-type]
    with pytest.raises(UserErrorException, match="mini_batch_size"):
        ParallelRunConfig(**{**base, "mini_batch_size": "1 TB"})  # type: ignore[arg-type]
    with pytest.raises(UserErrorException, match="partition_keys and mini_batch_size"):
        ParallelRunConfig(**{**base, "mini_batch_size": "1MB", "partition_keys": ["k"]})  # type: ignore[arg-type]
    with pytest.raises(UserErrorException, match="node_count"):
        ParallelRunConfig(**{**base, "node_count": 0})  # type: ignore[arg-type]
    config = ParallelRunConfig(**base)  # type: ignore[arg-type]
    assert config.append_row_file_name == "parallel_run_step.txt"
    assert config.process_count_per_node == 1  # a cluster named, not given: one
    dataset = Dataset.File.from_files("https://example.com/a.txt", validate=False)
    with pytest.raises(UserErrorException, match="3 to 32 characters"):
        ParallelRunStep("Bad_Name", config, inputs=[dataset.as_named_input("a")])
    with pytest.raises(UserErrorException, match="entry_script|not found"):
        missing = ParallelRunConfig(**{**base, "entry_script": "nope.py"})  # type: ignore[arg-type]
        ParallelRunStep("good-name", missing, inputs=[dataset.as_named_input("a")])


def test_mini_batches_and_budgets(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.txt", "a.txt", "sub/c.txt", "d.txt", "e.txt"):
        (folder / name).write_text("x")
    settings = ParallelRunSettings(
        entry_script="s.py", error_threshold=0, output_action="summary_only", mini_batch_size=2
    )
    batches = parallel_run.plan(settings, [parallel_run.InputData("in", folder, False)])
    assert [[Path(f).relative_to(folder).as_posix() for f in b.files] for b in batches] == [
        ["a.txt", "b.txt"],
        ["d.txt", "e.txt"],
        ["sub/c.txt"],
    ]
    default = ParallelRunSettings(
        entry_script="s.py", error_threshold=0, output_action="append_row"
    )
    assert default.files_per_batch() == 10 and default.bytes_per_batch() == 2**20
    assert (
        ParallelRunSettings(
            entry_script="s.py",
            error_threshold=0,
            output_action="append_row",
            mini_batch_size="10MB",
        ).bytes_per_batch()
        == 10 * 2**20
    )
    budget = Budget(error_threshold=-1, allowed_failed_count=2, allowed_failed_percent=50)
    assert budget.exceeded(1000, 2, 10) is None
    assert "allowed_failed_count=2" in (budget.exceeded(3, 3, 10) or "")
    assert "allowed_failed_percent=50" in (
        Budget(error_threshold=-1, allowed_failed_percent=50).exceeded(6, 6, 10) or ""
    )
    assert Budget(error_threshold=4).exceeded(5, 1, 10) == "5 failed items exceed error_threshold=4"


# Squares each file's number; ``--tag`` (a pipeline parameter in the YAML test) ends each line.
TAGGED_SQUARES = """
import argparse, os

def init():
    global tag
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", type=str, default="")
    tag = parser.parse_known_args()[0].tag

def run(mini_batch):
    out = []
    for path in mini_batch:
        with open(path) as f:
            value = int(f.read())
        out.append("{}: {}{}".format(os.path.basename(path), value * value, tag))
    return out
"""


def _results(step_run, output_name: str, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    found = step_run.get_output_data(output_name)
    target = tmp_path / f"results-{uuid.uuid4().hex[:6]}"
    found.download(local_path=str(target))
    return (target / found.path_on_datastore / "parallel_run_step.txt").read_text().splitlines()


@pytest.mark.slow
def test_the_input_dataset_is_a_pipeline_parameter_swapped_at_submit(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # file-dataset-image-inference-mnist: the input is a PipelineParameter of a dataset,
    # and a second submit scores another dataset with the same pipeline.
    compute_target = clusters(min_nodes=0, max_nodes=1)
    def_data_store = ws.get_default_datastore()
    first = upload_numbers(ws, tmp_path, 6)
    mnist_ds = Dataset.File.from_files((def_data_store, first))
    pipeline_param = PipelineParameter(name="mnist_param", default_value=mnist_ds)
    input_mnist_ds_consumption = DatasetConsumptionConfig(
        "minist_param_config", pipeline_param
    ).as_mount()
    output_dir = PipelineData(name="inferences", datastore=def_data_store)
    parallel_run_config = ParallelRunConfig(
        source_directory=write(tmp_path / "scripts", "digit_identification.py", TAGGED_SQUARES),
        entry_script="digit_identification.py",
        mini_batch_size="2",
        error_threshold=0,
        output_action="append_row",
        environment=Environment("batch-env"),
        compute_target=compute_target,
        process_count_per_node=2,
        node_count=1,
    )
    parallelrun_step = ParallelRunStep(
        name="predict-digits-mnist",
        parallel_run_config=parallel_run_config,
        inputs=[input_mnist_ds_consumption],
        output=output_dir,
        allow_reuse=False,
    )
    pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
    experiment = Experiment(ws, "digit_identification")
    pipeline_run = experiment.submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"
    step = pipeline_run.find_step_run(parallelrun_step.name)[0]
    assert _results(step, "inferences", tmp_path) == [
        f"file_{i:03d}.txt: {i * i}" for i in range(6)
    ]

    # Another dataset: three files whose numbers are 10 to 12.
    folder = tmp_path / "b"
    folder.mkdir()
    for i in range(3):
        (folder / f"file_{i:03d}.txt").write_text(str(10 + i))
    second = f"prs-{uuid.uuid4().hex[:8]}/images"
    def_data_store.upload(str(folder), target_path=second, show_progress=False)
    mnist_ds_2 = Dataset.File.from_files((def_data_store, second))
    pipeline_run_2 = experiment.submit(pipeline, pipeline_parameters={"mnist_param": mnist_ds_2})
    assert pipeline_run_2.wait_for_completion(show_output=False) == "Completed"
    step_2 = pipeline_run_2.find_step_run(parallelrun_step.name)[0]
    assert _results(step_2, "inferences", tmp_path) == [
        f"file_{i:03d}.txt: {(10 + i) ** 2}" for i in range(3)
    ]


PIPELINE_YAML = """
pipeline:
    description: SamplePipelineFromYaml
    default_compute: {compute}
    data_references:
        MyMinistInput:
            dataset_name: {dataset}
    parameters:
        PipelineParamTag:
            type: string
            default: " (from yaml)"
    steps:
        Step1:
            parallel_run_config: "yaml/parallel_run_config.yml"
            type: "ParallelRunStep"
            name: "parallel-run-step-1"
            allow_reuse: True
            arguments:
            - "--tag"
            - parameter:tag_parameter
            parameters:
                tag_parameter:
                    source: PipelineParamTag
            inputs:
                InputData:
                    source: MyMinistInput
            outputs:
                OutputDataStep2:
                    destination: Output5
                    datastore: workspaceblobstore
                    bind_mode: mount
"""


@pytest.mark.slow
def test_a_parallel_run_step_from_a_pipeline_yaml_and_its_config_file(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    compute_target = clusters(min_nodes=0, max_nodes=1)
    path = upload_numbers(ws, tmp_path, 4)
    name = f"mnist-sample-{uuid.uuid4().hex[:6]}"
    Dataset.File.from_files((ws.get_default_datastore(), path)).register(ws, name)
    env = Environment("batch-env")
    env.environment_variables = {"SCORING": "yes"}
    config = ParallelRunConfig(
        source_directory=write(tmp_path / "scripts", "mnist_batch_scoring.py", TAGGED_SQUARES),
        entry_script="mnist_batch_scoring.py",
        mini_batch_size="2",
        error_threshold=-1,
        output_action="append_row",
        environment=env,
        compute_target=compute_target,
        process_count_per_node=1,
        node_count=1,
        run_invocation_timeout=30,
    )
    (tmp_path / "yaml").mkdir()
    config.save_to_yaml(str(tmp_path / "yaml" / "parallel_run_config.yml"))
    loaded = ParallelRunConfig.load_yaml(ws, str(tmp_path / "yaml" / "parallel_run_config.yml"))
    assert (loaded.entry_script, loaded.mini_batch_size, loaded.run_invocation_timeout) == (
        "mnist_batch_scoring.py",
        "2",
        30,
    )
    assert loaded.compute_target.name == compute_target.name
    assert loaded.environment.environment_variables == {"SCORING": "yes"}

    pipeline_file = tmp_path / "pipeline.yml"
    pipeline_file.write_text(PIPELINE_YAML.format(compute=compute_target.name, dataset=name))
    pipeline = Pipeline.load_yaml(ws, str(pipeline_file))
    run = Experiment(ws, "yaml_parallel_run").submit(pipeline)
    assert run.wait_for_completion(show_output=False) == "Completed"
    step = run.find_step_run("parallel-run-step-1")[0]
    assert _results(step, "Output5", tmp_path) == [
        f"file_{i:03d}.txt: {i * i} (from yaml)" for i in range(4)
    ]

    # A config file with a bad key is refused naming it; nothing is built.
    bad = tmp_path / "yaml" / "bad.yml"
    bad.write_text("parallel_run_config:\n  entry_script: s.py\n  error_threshold: x\n")
    with pytest.raises(UserErrorException, match="error_threshold"):
        ParallelRunConfig.load_yaml(ws, str(bad))
