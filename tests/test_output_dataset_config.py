"""OutputFileDatasetConfig's refusals, in-process: bad names and destinations, and its use
in a plain ScriptRunConfig (pipelines only, so far), each with the SDK's error naming it."""

from __future__ import annotations

import pytest

from trainforge.core import ScriptRunConfig
from trainforge.core.script_run import definition_of
from trainforge.data import OutputFileDatasetConfig
from trainforge.exceptions import UserErrorException


def test_bad_names_and_destinations_are_refused() -> None:
    with pytest.raises(UserErrorException, match="name: 'my-output' is not allowed"):
        OutputFileDatasetConfig(name="my-output")
    with pytest.raises(UserErrorException, match=r"destination: give a \(datastore, path\) tuple"):
        OutputFileDatasetConfig(name="out", destination="workspaceblobstore/x")  # type: ignore[arg-type]
    out = OutputFileDatasetConfig(name="out")
    assert out.destination == (None, "dataset/{run-id}/{output-name}")
    with pytest.raises(UserErrorException, match="name: '1st' is not allowed"):
        out.as_input(name="1st")
    registered = out.read_delimited_files(separator=";").register_on_complete("tbl")
    assert registered.registration is not None
    assert registered.registration.parse.dataset_type == "Tabular"
    assert registered.registration.parse.separator == ";"
    assert str(out.as_input()) == "$AZUREML_DATAREFERENCE_out"
    assert str(out.read_delimited_files().as_input("t")) == "DatasetConsumptionConfig:t"


def test_bound_without_a_workspace_it_is_refused_naming_it() -> None:
    src = ScriptRunConfig(
        source_directory=".", script="x.py", arguments=["--o", OutputFileDatasetConfig("o")]
    )
    with pytest.raises(
        UserErrorException,
        match="OutputFileDatasetConfig .o. is supported in pipeline steps and a ScriptRunConfig",
    ):
        definition_of(src.run_config, "x.py")
