"""PipelineRun and StepRun (``azureml.pipeline.core.run``): a pipeline run is a parent run
(type ``azureml.PipelineRun``) whose children are its step runs (``azureml.StepRun``),
submitted by the control plane as their inputs become ready."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from trainforge.client import log_stream
from trainforge.client.api import api
from trainforge.client.api.files import FilesApi
from trainforge.client.api.pipelines import PipelinesApi
from trainforge.client.errors import sdk_errors
from trainforge.core.run import Run, get_run
from trainforge.exceptions import ActivityFailedException
from trainforge.pipeline.core.graph import PortDataReference
from trainforge.schemas.pipelines import (
    PIPELINE_LOG,
    PIPELINE_RUN_TYPE,
    STEP_RUN_TYPE,
    PipelineRunGraph,
    StepRunInfo,
)
from trainforge.schemas.runs import RunStatus

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment
    from trainforge.pipeline.core.published_pipeline import PublishedPipeline

LOG_TAIL = 8_000


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class PipelineRun(Run):
    """A submitted pipeline (``run.type == 'azureml.PipelineRun'``)."""

    RUN_TYPE = PIPELINE_RUN_TYPE

    def __init__(
        self, experiment: Experiment, run_id: str, _service_endpoint: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(experiment, run_id, **kwargs)

    def get_graph(self) -> PipelineRunGraph:
        """The steps with their live states and the edges between them."""
        with sdk_errors():
            return api(self.experiment.workspace, PipelinesApi).graph(self.id)

    def get_pipeline_output(self, pipeline_output_name: str) -> PortDataReference:
        """Where the output given ``PipelineData(..., pipeline_output_name=name)`` is, to
        download it (its step has completed)."""
        from trainforge.exceptions import UserErrorException

        steps = self.get_graph().steps
        for step in steps:
            output = step.pipeline_outputs.get(pipeline_output_name)
            if output is not None and output in step.outputs:
                where = step.outputs[output]
                return PortDataReference(
                    self.experiment.workspace,
                    output,
                    where.datastore_name,
                    where.path_on_datastore,
                )
        known = sorted(name for step in steps for name in step.pipeline_outputs)
        raise UserErrorException(
            f"pipeline_output_name: this pipeline run has no output {pipeline_output_name!r}"
            f" (yet); its pipeline outputs are {', '.join(known) or 'none'}"
        )

    def get_steps(self) -> Iterator[StepRun]:
        """The step runs of this pipeline run (steps that have started, or were reused)."""
        for child in self.get_children():
            if isinstance(child, StepRun):
                yield child

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step runs of the step called ``name`` (a PythonScriptStep's name defaults to
        its script name)."""
        return [step for step in self.get_steps() if step.name == name]

    def publish_pipeline(
        self,
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
        **kwargs: Any,
    ) -> PublishedPipeline:
        """Publish the pipeline this run ran (its graph and snapshots, as submitted)."""
        from trainforge.client.api.published_pipelines import PublishedPipelinesApi
        from trainforge.client.errors import validated
        from trainforge.core.run import submitting_user
        from trainforge.pipeline.core.published_pipeline import PublishedPipeline
        from trainforge.schemas.published_pipelines import PublishedPipelineCreate

        request = validated(
            PublishedPipelineCreate,
            name=name,
            description=description,
            version=version,
            continue_on_step_failure=bool(continue_on_step_failure),
            source_run_id=self.id,
            created_by=submitting_user(),
        )
        workspace = self.experiment.workspace
        with sdk_errors():
            info = api(workspace, PublishedPipelinesApi).publish(request)
        return PublishedPipeline(workspace, info)

    def wait_for_completion(  # type: ignore[override]
        self,
        show_output: bool = True,
        timeout_seconds: int = sys.maxsize,
        raise_on_error: bool = True,
    ) -> str:
        """Wait for every step; with ``show_output`` print a line per step status change and,
        for a failed step, its log. Returns the final status."""
        runs = self._runs
        if show_output:
            print(f"PipelineRunId: {self.id}")
            print(f"Link to Azure Machine Learning Portal: {self.get_portal_url()}")
            with sdk_errors():
                log_stream.follow(runs, self.id, _write, log_name=PIPELINE_LOG)
        else:
            with sdk_errors():
                log_stream.wait_for_terminal(runs, self.id)
        status = self._refresh().status
        if show_output:
            print("\nPipelineRun Execution Summary\n==============================")
            print(f"PipelineRun Status: {status.value}")
            for step in self.get_graph().steps:
                if step.status is RunStatus.FAILED and step.run_id is not None:
                    failed = StepRun(self.experiment, step.run_id)
                    print(f"\nStepRun( {step.name} ) failed; its log:\n")
                    print(failed.get_job_log()[-LOG_TAIL:])
        if status is RunStatus.FAILED and raise_on_error:
            raise ActivityFailedException(error_details=self.get_details().get("error"))
        return status.value


class StepRunOutput:
    """An output of a step run (``StepRun.get_output(name)``)."""

    def __init__(self, step_run: StepRun, name: str, reference: PortDataReference) -> None:
        self._step_run = step_run
        self.name = name
        self._reference = reference

    @property
    def step_run(self) -> StepRun:
        return self._step_run

    def get_port_data_reference(self) -> PortDataReference:
        return self._reference


class StepRun(Run):
    """A step of a pipeline run (``run.type == 'azureml.StepRun'``)."""

    RUN_TYPE = STEP_RUN_TYPE

    def __init__(
        self,
        experiment: Experiment,
        step_run_id: str,
        pipeline_run_id: str | None = None,
        node_id: str | None = None,
        _service_endpoint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(experiment, step_run_id, **kwargs)
        self._pipeline_run_id = pipeline_run_id or self._info.parent_run_id

    @property
    def name(self) -> str | None:
        """The step's name."""
        return self._info.display_name

    @property
    def pipeline_run_id(self) -> str | None:
        return self._pipeline_run_id

    def _step(self) -> StepRunInfo:
        assert self._pipeline_run_id is not None
        with sdk_errors():
            graph = api(self.experiment.workspace, PipelinesApi).graph(self._pipeline_run_id)
        return next(s for s in graph.steps if s.run_id == self.id)

    def get_job_log(self) -> str:
        """The step's log (its driver log; a reused step's says which run it reused)."""
        files = api(self.experiment.workspace, FilesApi)
        with sdk_errors():
            names = [item.name for item in files.list(self.id)]
        name = log_stream.pick_log(names)
        if name is None:
            return ""
        with sdk_errors():
            return b"".join(files.download(self.id, name)).decode(errors="replace")

    def get_outputs(self) -> dict[str, StepRunOutput]:
        """{output name: StepRunOutput} of the step's PipelineData outputs."""
        return {
            name: StepRunOutput(
                self,
                name,
                PortDataReference(
                    self.experiment.workspace, name, where.datastore_name, where.path_on_datastore
                ),
            )
            for name, where in self._step().outputs.items()
        }

    def get_output(self, name: str) -> StepRunOutput:
        outputs = self.get_outputs()
        if name not in outputs:
            from trainforge.exceptions import UserErrorException

            raise UserErrorException(
                f"name: step {self.name!r} has no output {name!r}; its outputs are "
                f"{', '.join(sorted(outputs)) or 'none'}"
            )
        return outputs[name]

    def get_output_data(self, name: str) -> PortDataReference:
        """Where output ``name`` is, to download it."""
        return self.get_output(name).get_port_data_reference()

    def get_parent(self) -> Run:
        assert self._pipeline_run_id is not None
        return get_run(self.experiment.workspace, self._pipeline_run_id, self.experiment)


Run.add_type_provider(PipelineRun.RUN_TYPE, PipelineRun)
Run.add_type_provider(StepRun.RUN_TYPE, StepRun)
