"""DataTransferStep on a real control plane, in the shape of the public data-transfer
sample (aml-pipelines-data-transfer): DataReferences on datastores as source and
destination, a PipelineData destination that a later step reads, and reuse while the
source's content is unchanged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.test_pipelines import write
from trainforge.core import Experiment, Workspace
from trainforge.data.data_reference import DataReference
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core import Pipeline, PipelineData
from trainforge.pipeline.steps import DataTransferStep, PythonScriptStep

READ = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--copied", type=str)
args = parser.parse_args()
print("copied:", open(os.path.join(args.copied, "b.txt")).read())
"""


@pytest.mark.slow
def test_data_transfer_between_datastore_paths_and_into_pipeline_data(
    ws: Workspace, tmp_path: Path
) -> None:
    blob = ws.get_default_datastore()
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    base = f"transfer-{uuid.uuid4().hex[:8]}"
    blob.upload(str(folder), target_path=f"{base}/in", show_progress=False)

    blob_data_ref = DataReference(
        datastore=blob, data_reference_name="blob_test_data", path_on_datastore=f"{base}/in"
    )
    copied_ref = DataReference(
        datastore=blob, data_reference_name="copied_data", path_on_datastore=f"{base}/out"
    )
    transfer_blob_to_blob = DataTransferStep(
        name="transfer_blob_to_blob",
        source_data_reference=blob_data_ref,
        destination_data_reference=copied_ref,
        compute_target="adf-compute",
        source_reference_type="directory",
    )
    single_file = DataReference(
        datastore=blob, data_reference_name="one_file", path_on_datastore=f"{base}/in/sub/b.txt"
    )
    staged = PipelineData("staged", datastore=blob)
    stage_file = DataTransferStep(
        name="stage_file",
        source_data_reference=single_file,
        destination_data_reference=staged,
        compute_target="adf-compute",
        source_reference_type="file",
    )
    read = PythonScriptStep(
        name="read_staged",
        script_name="read.py",
        arguments=["--copied", staged],
        inputs=[staged],
        compute_target="local",
        source_directory=write(tmp_path / "read", "read.py", READ),
    )
    pipeline = Pipeline(workspace=ws, steps=[transfer_blob_to_blob, read])
    # stage_file is pulled in as the producer of read_staged's input.
    assert {s.name for s in pipeline.steps} == {
        "transfer_blob_to_blob",
        "read_staged",
        "stage_file",
    }
    pipeline_run = Experiment(ws, "Data_dependency").submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"
    assert stage_file.name in {r.name for r in pipeline_run.get_steps()}

    target = tmp_path / "back"
    blob.download(str(target), prefix=f"{base}/out", show_progress=False)
    assert (target / base / "out" / "a.txt").read_text() == "alpha"
    assert (target / base / "out" / "sub" / "b.txt").read_text() == "beta"
    transfer_run = pipeline_run.find_step_run("transfer_blob_to_blob")[0]
    assert "Copied 2 files (9 bytes)" in transfer_run.get_job_log()
    assert "copied: beta" in pipeline_run.find_step_run("read_staged")[0].get_job_log()

    # Nothing changed: the copies are reused.
    again = Experiment(ws, "Data_dependency").submit(pipeline)
    assert again.wait_for_completion(show_output=False) == "Completed"
    graph = {s.name: s for s in again.get_graph().steps}
    assert graph["transfer_blob_to_blob"].reused_run_id == transfer_run.id


def test_data_transfer_step_checks_its_arguments(ws: Workspace) -> None:
    ref = ws.get_default_datastore().path("somewhere")
    with pytest.raises(UserErrorException, match="source_data_reference"):
        DataTransferStep(name="t", destination_data_reference=ref)
    with pytest.raises(UserErrorException, match="source_reference_type"):
        DataTransferStep(
            name="t",
            source_data_reference=ref,
            destination_data_reference=PipelineData("x"),
            source_reference_type="blob",
        )
