"""``utilities.experiment``: many jobs of one experiment, submitted, awaited and read
together (the hyperparameter recipes' helper)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import httpx

from trainforge.batchai.client import BatchAIManagementClient, CloudError
from trainforge.schemas.batchai import (
    ExecutionState,
    Job,
    JobCreateParameters,
    JobsListOutputFilesOptions,
)

DONE = (ExecutionState.succeeded, ExecutionState.failed)


class MetricExtractor:
    """A metric read from a job's log: the last (or best) match of ``regex``."""

    def __init__(
        self, output_dir_id: str, logfile: str, regex: str, metric_type: str = "last"
    ) -> None:
        self.output_dir_id = output_dir_id
        self.logfile = logfile
        self.regex = re.compile(regex)
        self.metric_type = metric_type

    def get_metric(self, client: BatchAIManagementClient, resource_group: str, workspace: str,
                   experiment: str, job_name: str) -> float | None:  # fmt: skip
        files = client.jobs.list_output_files(
            resource_group, workspace, experiment, job_name,
            JobsListOutputFilesOptions(outputdirectoryid=self.output_dir_id),
        )  # fmt: skip
        url = next((f.download_url for f in files if f.name == self.logfile), None)
        if url is None:
            return None
        values = [float(v) for v in self.regex.findall(httpx.get(url, timeout=30).text)]
        if not values:
            return None
        return {"last": values[-1], "max": max(values), "min": min(values)}.get(
            self.metric_type, values[-1]
        )


class ExperimentUtils:
    """Submit, await and read the jobs of one experiment."""

    def __init__(self, client: BatchAIManagementClient, resource_group: str, workspace: str,
                 experiment: str) -> None:  # fmt: skip
        self.client = client
        self.resource_group = resource_group
        self.workspace = workspace
        self.experiment = experiment

    def submit_jobs(
        self, jobs_to_submit: Iterable[JobCreateParameters], job_name_prefix: str
    ) -> list[Job]:
        """Create one job per parameters, named ``<prefix>_<i>``."""
        created = []
        for index, parameters in enumerate(jobs_to_submit):
            name = f"{job_name_prefix}_{index}"
            created.append(
                self.client.jobs.create(
                    self.resource_group, self.workspace, self.experiment, name, parameters
                ).result()
            )
        return created

    def wait_all_jobs(self, job_names: Iterable[str] | None = None, polling_interval: float = 2,
                      timeout: float | None = None) -> list[Job]:  # fmt: skip
        """Wait until every job (all of the experiment's when none are named) has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            jobs = self.get_jobs(job_names)
            running = [j for j in jobs if j.execution_state not in DONE]
            print(f"{len(jobs) - len(running)}/{len(jobs)} jobs done")
            if not running or (deadline is not None and time.monotonic() > deadline):
                return jobs
            time.sleep(polling_interval)

    def get_jobs(self, job_names: Iterable[str] | None = None) -> list[Job]:
        jobs = list(
            self.client.jobs.list_by_experiment(
                self.resource_group, self.workspace, self.experiment
            )
        )
        if job_names is None:
            return jobs
        wanted = set(job_names)
        return [j for j in jobs if j.name in wanted]

    def get_metrics_for_jobs(
        self, jobs: Iterable[Job], metric_extractor: MetricExtractor
    ) -> list[dict[str, object]]:
        """Each succeeded job with its metric, best (highest) first."""
        found: list[dict[str, object]] = []
        for job in jobs:
            if job.execution_state != ExecutionState.succeeded or job.name is None:
                continue
            value = metric_extractor.get_metric(
                self.client, self.resource_group, self.workspace, self.experiment, job.name
            )
            found.append({"job_name": job.name, "job": job, "metric_value": value})

        def best_first(item: dict[str, object]) -> tuple[bool, float]:
            value = item["metric_value"]
            return value is None, -float(value) if isinstance(value, int | float) else 0.0

        return sorted(found, key=best_first)

    def delete_jobs_in_experiment(
        self, execution_state: str | None = None, job_names: Iterable[str] | None = None
    ) -> None:
        for job in self.get_jobs(job_names):
            if execution_state is None or job.execution_state == execution_state:
                try:
                    self.client.jobs.delete(
                        self.resource_group, self.workspace, self.experiment, job.name or ""
                    ).result()
                except CloudError as exc:
                    print(f"Could not delete {job.name}: {exc}")
