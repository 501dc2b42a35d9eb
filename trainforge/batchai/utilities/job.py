"""``utilities.job``: waiting for a job while streaming one of its files, and its status."""

from __future__ import annotations

import time
from typing import Any

import httpx

from trainforge.batchai.client import BatchAIManagementClient
from trainforge.schemas.batchai import ExecutionState, Job, JobsListOutputFilesOptions

DONE = (ExecutionState.succeeded, ExecutionState.failed)


class OutputStreamer:
    """Prints what a job's file gained since the last look, read through its signed URL
    with a ``Range`` request (as ``az batchai job file stream`` does)."""

    def __init__(
        self, client: BatchAIManagementClient, resource_group: str, workspace: str,
        experiment: str, job_name: str, output_directory_id: str, file_name: str,
    ) -> None:  # fmt: skip
        self.client = client
        self.resource_group = resource_group
        self.workspace = workspace
        self.experiment = experiment
        self.job_name = job_name
        self.output_directory_id = output_directory_id
        self.file_name = file_name
        self.url: str | None = None
        self.downloaded = 0

    def _find_url(self) -> str | None:
        files = self.client.jobs.list_output_files(
            self.resource_group, self.workspace, self.experiment, self.job_name,
            JobsListOutputFilesOptions(outputdirectoryid=self.output_directory_id),
        )  # fmt: skip
        return next((f.download_url for f in files if f.name == self.file_name), None)

    def tail(self) -> str:
        """Print and return what the file gained (nothing while it does not exist yet)."""
        if self.url is None:
            self.url = self._find_url()
            if self.url is None:
                return ""
        response = httpx.get(self.url, headers={"Range": f"bytes={self.downloaded}-"}, timeout=30)
        if response.status_code == 403:  # the link expired: ask for a fresh one next time
            self.url = None
            return ""
        if not 200 <= response.status_code < 300:
            return ""
        text = response.content.decode(errors="replace")
        self.downloaded += len(response.content)
        print(text, end="")
        return text


def print_job_status(job: Job) -> None:
    """Print the job's state, its exit code once it has ended, and its errors."""
    info = job.execution_info
    exit_code = info.exit_code if info is not None else None
    print(f"Job state: {job.execution_state} ExitCode: {exit_code}")
    for error in (info.errors if info is not None else None) or []:
        print(f"Error: {error.code}: {error.message}")
        for detail in error.details or []:
            print(f"{detail.name}: {detail.value}")


def wait_for_job_completion(
    client: BatchAIManagementClient, resource_group: str, workspace: str, experiment: str,
    job_name: str, cluster_name: str, output_directory_id: str | None = None,
    file_name: str | None = None, polling_interval: float = 2,
) -> Job:  # fmt: skip
    """Wait until the job has ended, printing the cluster's and the job's states as they
    change and streaming ``file_name`` of ``output_directory_id`` while it grows."""
    from trainforge.batchai.utilities.cluster import print_cluster_status

    streamer = (
        OutputStreamer(client, resource_group, workspace, experiment, job_name, output_directory_id, file_name)
        if output_directory_id and file_name
        else None
    )  # fmt: skip
    cluster = client.clusters.get(resource_group, workspace, cluster_name)
    print_cluster_status(cluster)
    last_state: Any = None
    while True:
        job = client.jobs.get(resource_group, workspace, experiment, job_name)
        if job.execution_state != last_state:
            print(f"Job state: {job.execution_state}")
            last_state = job.execution_state
        if streamer is not None and job.execution_state != ExecutionState.queued:
            streamer.tail()
        if job.execution_state in DONE:
            if streamer is not None:
                streamer.tail()  # what was written last
            print_job_status(job)
            return job
        time.sleep(polling_interval)
