"""``trainforge batchai ...``: the ``az batchai`` commands (API 2018-05-01) over trainforge.

``-g`` resource group, ``-w`` workspace (``-n`` for workspace commands), ``-o table|json``.
Job files are ``az batchai job create -f job.json`` files (2018-05-01, and the older
2017-09-01-preview and 2018-03-01 payloads, mapped as the reference's 2.7 says).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from trainforge.cli.common import _fail, console

batchai_app = typer.Typer(
    help="Batch AI workspaces, clusters, experiments and jobs (az batchai).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
workspace_app = typer.Typer(help="Batch AI workspaces.", no_args_is_help=True)
cluster_app = typer.Typer(
    help="Batch AI clusters (trainforge AmlCompute clusters).", no_args_is_help=True
)
experiment_app = typer.Typer(help="Batch AI experiments.", no_args_is_help=True)
job_app = typer.Typer(help="Batch AI jobs (trainforge runs).", no_args_is_help=True)
job_file_app = typer.Typer(help="A job's output files.", no_args_is_help=True)
job_node_app = typer.Typer(help="The nodes a job runs on.", no_args_is_help=True)
cluster_node_app = typer.Typer(help="A cluster's nodes.", no_args_is_help=True)
file_server_app = typer.Typer(
    help="Batch AI file servers (not supported: mount a file share or container).",
    no_args_is_help=True,
)
batchai_app.add_typer(workspace_app, name="workspace")
batchai_app.add_typer(cluster_app, name="cluster")
batchai_app.add_typer(experiment_app, name="experiment")
batchai_app.add_typer(job_app, name="job")
job_app.add_typer(job_file_app, name="file")
job_app.add_typer(job_node_app, name="node")
cluster_app.add_typer(cluster_node_app, name="node")
batchai_app.add_typer(file_server_app, name="file-server")

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
Group = Annotated[str, typer.Option("--resource-group", "-g", help="Resource group")]
Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name")]
Experiment = Annotated[str | None, typer.Option("--experiment", "-e", help="Experiment name")]
Subscription = Annotated[
    str,
    typer.Option("--subscription", envvar="AZURE_SUBSCRIPTION_ID", help="Subscription id"),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Do not wait for the operation")]


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table (default) or json")]


def _client(subscription: str) -> Any:
    from trainforge.batchai import BatchAIManagementClient

    return BatchAIManagementClient(credentials=None, subscription_id=subscription)


@contextmanager
def _service() -> Iterator[None]:
    """The service's refusals as one ``error:`` line (exit 1)."""
    from trainforge.batchai import CloudError

    try:
        yield
    except CloudError as exc:
        _fail(f"({exc.error}) {exc.message}")
    except ValidationError as exc:
        from trainforge.batchai.client import _describe

        _fail(f"(InvalidRequestContent) {_describe(exc, 'the request')}")


def _show(items: list[Any], output: Output, columns: dict[str, Any]) -> None:
    if output is Output.json:
        typer.echo(json.dumps([item.serialize() for item in items], indent=2, default=str))
        return
    from trainforge.cli.output import print_table

    rows = [
        ["" if (v := get(item)) is None else str(v) for get in columns.values()] for item in items
    ]
    print_table(list(columns), rows)


def _one(item: Any, output: Output, columns: dict[str, Any]) -> None:
    if output is Output.json:
        typer.echo(json.dumps(item.serialize(), indent=2, default=str))
    else:
        _show([item], output, columns)


def _finish(poller: Any, no_wait: bool) -> None:
    """Wait for a long-running operation unless ``--no-wait``."""
    if not no_wait:
        poller.result()


def _confirm(what: str, yes: bool) -> None:
    if not yes and not typer.confirm(f"Are you sure you want to delete {what}?"):
        raise typer.Exit(1)


# -- mount volumes from flags (az batchai's --afs-name, --bfs-name, --nfs) ------------------
AccountName = Annotated[
    str | None,
    typer.Option("--storage-account-name", envvar="AZURE_BATCHAI_STORAGE_ACCOUNT", help="Storage account of --afs-name/--bfs-name"),
]  # fmt: skip
AccountKey = Annotated[
    str | None,
    typer.Option("--storage-account-key", envvar="AZURE_BATCHAI_STORAGE_KEY", help="Its key"),
]
AfsName = Annotated[str | None, typer.Option("--afs-name", help="Azure file share to mount")]
AfsPath = Annotated[str, typer.Option("--afs-mount-path", help="Where, under the mount root")]
BfsName = Annotated[str | None, typer.Option("--bfs-name", help="Blob container to mount")]
BfsPath = Annotated[str, typer.Option("--bfs-mount-path", help="Where, under the mount root")]
Nfs = Annotated[str | None, typer.Option("--nfs", help="File server to mount (not supported)")]


def _flag_mounts(
    volumes: dict[str, Any], account: str | None, key: str | None,
    afs: str | None, afs_path: str, bfs: str | None, bfs_path: str, nfs: str | None,
) -> None:  # fmt: skip
    """Add the flags' mounts to ``volumes`` (a MountVolumes JSON), as az batchai did."""
    if nfs:
        _fail(
            "--nfs: file servers are not supported by trainforge; mount a file share "
            "(--afs-name) or a blob container (--bfs-name) instead",
            2,
        )
    if (afs or bfs) and not (account and key):
        _fail(
            "--storage-account-name and --storage-account-key: required with --afs-name/--bfs-name",
            2,
        )
    credentials = {"accountKey": key}
    if afs:
        volumes.setdefault("azureFileShares", []).append(
            {
                "accountName": account,
                "azureFileUrl": f"https://{account}.file.core.windows.net/{afs}",
                "credentials": credentials,
                "relativeMountPath": afs_path,
            }
        )
    if bfs:
        volumes.setdefault("azureBlobFileSystems", []).append(
            {
                "accountName": account,
                "containerName": bfs,
                "credentials": credentials,
                "relativeMountPath": bfs_path,
            }
        )


# -- workspaces ----------------------------------------------------------------------------
WS_COLUMNS = {
    "Name": lambda w: w.name,
    "Location": lambda w: w.location,
    "State": lambda w: w.provisioning_state,
}


@workspace_app.command("create")
def workspace_create(
    resource_group: Group, name: Annotated[str, typer.Option("--name", "-n")],
    location: Annotated[str, typer.Option("--location", "-l")] = "eastus",
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    """Create a workspace (or find it)."""
    with _service():
        _one(
            _client(subscription).workspaces.create(resource_group, name, location).result(),
            output,
            WS_COLUMNS,
        )


@workspace_app.command("show")
def workspace_show(
    resource_group: Group, name: Annotated[str, typer.Option("--name", "-n")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    with _service():
        _one(_client(subscription).workspaces.get(resource_group, name), output, WS_COLUMNS)


@workspace_app.command("list")
def workspace_list(
    resource_group: Annotated[str | None, typer.Option("--resource-group", "-g")] = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        client = _client(subscription)
        found = (
            client.workspaces.list_by_resource_group(resource_group)
            if resource_group
            else client.workspaces.list()
        )
        _show(list(found), output, WS_COLUMNS)


@workspace_app.command("delete")
def workspace_delete(
    resource_group: Group, name: Annotated[str, typer.Option("--name", "-n")], yes: Yes = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    """Delete the workspace and everything in it."""
    _confirm(f"workspace {name} and everything in it", yes)
    with _service():
        _client(subscription).workspaces.delete(resource_group, name).result()


# -- clusters ------------------------------------------------------------------------------
CLUSTER_COLUMNS = {
    "Name": lambda c: c.name,
    "Resource Group": lambda c: c.id.split("/resourceGroups/")[1].split("/")[0] if c.id else None,
    "Workspace": lambda c: c.id.split("/workspaces/")[1].split("/")[0] if c.id else None,
    "VM Size": lambda c: c.vm_size,
    "State": lambda c: c.allocation_state,
    "Idle": lambda c: c.node_state_counts.idle_node_count,
    "Running": lambda c: c.node_state_counts.running_node_count,
    "Preparing": lambda c: c.node_state_counts.preparing_node_count,
    "Leaving": lambda c: c.node_state_counts.leaving_node_count,
    "Unusable": lambda c: c.node_state_counts.unusable_node_count,
}


@cluster_app.command("create")
def cluster_create(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    vm_size: Annotated[str | None, typer.Option("--vm-size", "-s")] = None,
    target: Annotated[int | None, typer.Option("--target", "-t", help="Manual scale: this many nodes")] = None,
    minimum: Annotated[int | None, typer.Option("--min", help="Auto-scale: at least")] = None,
    maximum: Annotated[int | None, typer.Option("--max", help="Auto-scale: at most")] = None,
    vm_priority: Annotated[str | None, typer.Option("--vm-priority")] = None,
    user_name: Annotated[str | None, typer.Option("--user-name", "-u")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p")] = None,
    ssh_key: Annotated[str | None, typer.Option("--ssh-key", "-k")] = None,
    config_file: Annotated[Path | None, typer.Option("--config-file", "-f", help="ClusterCreateParameters JSON")] = None,
    storage_account_name: AccountName = None, storage_account_key: AccountKey = None,
    afs_name: AfsName = None, afs_mount_path: AfsPath = "afs",
    bfs_name: BfsName = None, bfs_mount_path: BfsPath = "bfs", nfs: Nfs = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    """Create a cluster from flags or ``-f cluster.json`` (flags win over the file); the
    mounts of ``--afs-name``/``--bfs-name`` go to every node (``$AZ_BATCHAI_MOUNT_ROOT``)."""
    from trainforge.batchai import models

    body: dict[str, Any] = {}
    if config_file is not None:
        loaded = json.loads(config_file.read_text())
        body = loaded.get("properties", loaded)
    if vm_size:
        body["vmSize"] = vm_size
    if vm_priority:
        body["vmPriority"] = vm_priority
    if target is not None:
        body["scaleSettings"] = {"manual": {"targetNodeCount": target}}
    elif minimum is not None or maximum is not None:
        body["scaleSettings"] = {
            "autoScale": {
                "minimumNodeCount": minimum or 0,
                "maximumNodeCount": maximum or minimum or 0,
            }
        }
    body.setdefault("scaleSettings", {"manual": {"targetNodeCount": 1}})
    account = body.setdefault("userAccountSettings", {})
    if user_name:
        account["adminUserName"] = user_name
    if password:
        account["adminUserPassword"] = password
    if ssh_key:
        key = Path(ssh_key).expanduser()
        account["adminUserSshPublicKey"] = key.read_text().strip() if key.exists() else ssh_key
    account.setdefault("adminUserName", "trainforge")
    if afs_name or bfs_name or nfs:
        volumes = body.setdefault("nodeSetup", {}).setdefault("mountVolumes", {})
        _flag_mounts(
            volumes, storage_account_name, storage_account_key,
            afs_name, afs_mount_path, bfs_name, bfs_mount_path, nfs,
        )  # fmt: skip
    with _service():
        parameters = models.ClusterCreateParameters.model_validate(body)
        created = (
            _client(subscription)
            .clusters.create(resource_group, workspace, name, parameters)
            .result()
        )
        _one(created, output, CLUSTER_COLUMNS)


@cluster_app.command("show")
def cluster_show(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    with _service():
        _one(
            _client(subscription).clusters.get(resource_group, workspace, name),
            output,
            CLUSTER_COLUMNS,
        )


@cluster_app.command("list")
def cluster_list(
    resource_group: Group, workspace: Workspace,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        _show(
            list(_client(subscription).clusters.list_by_workspace(resource_group, workspace)),
            output,
            CLUSTER_COLUMNS,
        )


@cluster_app.command("resize")
def cluster_resize(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    target: Annotated[int, typer.Option("--target", "-t")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    """A manual target node count."""
    from trainforge.batchai import models

    with _service():
        scale = models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=target))
        _one(
            _client(subscription).clusters.update(
                resource_group, workspace, name, scale_settings=scale
            ),
            output,
            CLUSTER_COLUMNS,
        )


@cluster_app.command("auto-scale")
def cluster_auto_scale(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    minimum: Annotated[int, typer.Option("--min")], maximum: Annotated[int, typer.Option("--max")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    """Switch the cluster to auto-scale between ``--min`` and ``--max`` nodes."""
    from trainforge.batchai import models

    with _service():
        scale = models.ScaleSettings(
            auto_scale=models.AutoScaleSettings(
                minimum_node_count=minimum, maximum_node_count=maximum
            )
        )
        _one(
            _client(subscription).clusters.update(
                resource_group, workspace, name, scale_settings=scale
            ),
            output,
            CLUSTER_COLUMNS,
        )


@cluster_app.command("delete")
def cluster_delete(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    yes: Yes = False, no_wait: NoWait = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    _confirm(f"cluster {name}", yes)
    with _service():
        poller = _client(subscription).clusters.delete(resource_group, workspace, name)
        _finish(poller, no_wait)


NODE_COLUMNS = {
    "Node": lambda n: n.node_id,
    "IP": lambda n: n.ip_address,
    "SSH Port": lambda n: n.port,
}


@cluster_node_app.command("list")
def cluster_node_list(
    resource_group: Group, workspace: Workspace, cluster: Annotated[str, typer.Option("--cluster", "-c")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        found = _client(subscription).clusters.list_remote_login_information(
            resource_group, workspace, cluster
        )
        _show(list(found), output, NODE_COLUMNS)


# -- experiments ---------------------------------------------------------------------------
EXP_COLUMNS = {"Name": lambda e: e.name, "State": lambda e: e.provisioning_state}


@experiment_app.command("create")
def experiment_create(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    with _service():
        _one(
            _client(subscription).experiments.create(resource_group, workspace, name).result(),
            output,
            EXP_COLUMNS,
        )


@experiment_app.command("show")
def experiment_show(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    with _service():
        _one(
            _client(subscription).experiments.get(resource_group, workspace, name),
            output,
            EXP_COLUMNS,
        )


@experiment_app.command("list")
def experiment_list(
    resource_group: Group, workspace: Workspace,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        _show(
            list(_client(subscription).experiments.list_by_workspace(resource_group, workspace)),
            output,
            EXP_COLUMNS,
        )


@experiment_app.command("delete")
def experiment_delete(
    resource_group: Group, workspace: Workspace, name: Annotated[str, typer.Option("--name", "-n")],
    yes: Yes = False, no_wait: NoWait = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    """Delete the experiment and all its jobs (those still running are stopped first)."""
    _confirm(f"experiment {name} and all its jobs", yes)
    with _service():
        poller = _client(subscription).experiments.delete(resource_group, workspace, name)
        _finish(poller, no_wait)


# -- jobs ----------------------------------------------------------------------------------
JOB_COLUMNS = {
    "Name": lambda j: j.name,
    "Cluster": lambda j: j.cluster.id.rsplit("/", 1)[-1] if j.cluster else None,
    "Cluster RG": lambda j: (
        j.cluster.id.split("/resourceGroups/")[1].split("/")[0] if j.cluster else None
    ),
    "Cluster Workspace": lambda j: (
        j.cluster.id.split("/workspaces/")[1].split("/")[0] if j.cluster else None
    ),
    "Tool": lambda j: j.tool_type,
    "Nodes": lambda j: j.node_count,
    "State": lambda j: j.execution_state,
    "Exit code": lambda j: j.execution_info.exit_code if j.execution_info else None,
}
JobName = Annotated[str, typer.Option("--name", "-n", help="Job name")]


def _experiment(experiment: str | None) -> str:
    if not experiment:
        _fail("--experiment/-e: required", 2)
    return experiment


def _cluster_id(client: Any, resource_group: str, workspace: str, cluster: str) -> str:
    if cluster.startswith("/subscriptions/"):
        return cluster
    return str(client.clusters.get(resource_group, workspace, cluster).id)


@job_app.command("create")
def job_create(
    resource_group: Group, workspace: Workspace, name: JobName,
    config_file: Annotated[Path, typer.Option("--config-file", "-f", help="JobCreateParameters JSON (job.json)")],
    experiment: Experiment = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Cluster name or ARM id")] = None,
    storage_account_name: AccountName = None, storage_account_key: AccountKey = None,
    afs_name: AfsName = None, afs_mount_path: AfsPath = "afs",
    bfs_name: BfsName = None, bfs_mount_path: BfsPath = "bfs", nfs: Nfs = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    """Create a job from a job.json file (``--cluster`` wins over ``properties.cluster.id``);
    the mounts of ``--afs-name``/``--bfs-name`` are the job's (``$AZ_BATCHAI_JOB_MOUNT_ROOT``)."""
    from trainforge.batchai import models

    text = config_file.read_text()
    # The CLI's placeholders (reference 2.1).
    if storage_account_name:
        text = text.replace("<AZURE_BATCHAI_STORAGE_ACCOUNT>", storage_account_name)
    if storage_account_key:
        text = text.replace("<AZURE_BATCHAI_STORAGE_KEY>", storage_account_key)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{config_file}: not valid JSON ({exc})", 2)
    properties = loaded.get("properties", loaded) if isinstance(loaded, dict) else {}
    experiment = experiment or properties.get("experimentName") or None  # 2017-09-01-preview
    if afs_name or bfs_name or nfs:
        _flag_mounts(
            properties.setdefault("mountVolumes", {}), storage_account_name, storage_account_key,
            afs_name, afs_mount_path, bfs_name, bfs_mount_path, nfs,
        )  # fmt: skip
    client = _client(subscription)
    with _service():
        if cluster:
            properties["cluster"] = {"id": _cluster_id(client, resource_group, workspace, cluster)}
        if "cluster" not in properties:
            _fail("--cluster/-c: required when the job file names no cluster", 2)
        parameters = models.JobCreateParameters.model_validate(properties)
        job = client.jobs.create(
            resource_group, workspace, _experiment(experiment), name, parameters
        ).result()
        _one(job, output, JOB_COLUMNS)


@job_app.command("show")
def job_show(
    resource_group: Group, workspace: Workspace, name: JobName, experiment: Experiment = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.json,
) -> None:  # fmt: skip
    with _service():
        _one(
            _client(subscription).jobs.get(
                resource_group, workspace, _experiment(experiment), name
            ),
            output,
            JOB_COLUMNS,
        )


@job_app.command("list")
def job_list(
    resource_group: Group, workspace: Workspace, experiment: Experiment = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        found = _client(subscription).jobs.list_by_experiment(
            resource_group, workspace, _experiment(experiment)
        )
        _show(list(found), output, JOB_COLUMNS)


@job_app.command("wait")
def job_wait(
    resource_group: Group, workspace: Workspace, name: JobName, experiment: Experiment = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks")] = 15,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    """Wait until the job has ended; exit with its exit code."""
    client = _client(subscription)
    with _service():
        while True:
            job = client.jobs.get(resource_group, workspace, _experiment(experiment), name)
            if job.execution_state in ("succeeded", "failed"):
                break
            time.sleep(interval)
    code = job.execution_info.exit_code if job.execution_info else None
    console.print(f"The job {name} completed with exit code {code}", highlight=False)
    raise typer.Exit(code if code is not None else (0 if job.execution_state == "succeeded" else 1))


@job_app.command("terminate")
def job_terminate(
    resource_group: Group, workspace: Workspace, name: JobName, experiment: Experiment = None,
    yes: Yes = False, no_wait: NoWait = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    if not yes and not typer.confirm(f"Are you sure you want to terminate job {name}?"):
        raise typer.Exit(1)
    with _service():
        poller = _client(subscription).jobs.terminate(
            resource_group, workspace, _experiment(experiment), name
        )
        _finish(poller, no_wait)


@job_app.command("delete")
def job_delete(
    resource_group: Group, workspace: Workspace, name: JobName, experiment: Experiment = None,
    yes: Yes = False, no_wait: NoWait = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    _confirm(f"job {name}", yes)
    with _service():
        poller = _client(subscription).jobs.delete(
            resource_group, workspace, _experiment(experiment), name
        )
        _finish(poller, no_wait)


FILE_COLUMNS = {
    "Name": lambda f: f.name,
    "Type": lambda f: f.file_type,
    "Size": lambda f: f.content_length,
    "Modified": lambda f: f.last_modified,
}
JobOpt = Annotated[str, typer.Option("--job", "-j", help="Job name")]
DirOpt = Annotated[
    str, typer.Option("--output-directory-id", "-d", help="Output directory id or stdouterr")
]
PathOpt = Annotated[str, typer.Option("--path", "-p", help="Folder inside the output directory")]


def _files(client: Any, resource_group: str, workspace: str, experiment: str, job: str,
           directory: str, path: str, expiry: int = 60) -> list[Any]:  # fmt: skip
    from trainforge.batchai import models

    options = models.JobsListOutputFilesOptions(
        outputdirectoryid=directory, directory=path, linkexpiryinminutes=expiry
    )
    return list(client.jobs.list_output_files(resource_group, workspace, experiment, job, options))


@job_file_app.command("list")
def job_file_list(
    resource_group: Group, workspace: Workspace, job: JobOpt, experiment: Experiment = None,
    directory: DirOpt = "stdouterr", path: PathOpt = ".",
    expiry: Annotated[int, typer.Option("--expiry", help="Minutes the download URLs last")] = 60,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        found = _files(
            _client(subscription),
            resource_group,
            workspace,
            _experiment(experiment),
            job,
            directory,
            path,
            expiry,
        )
        _show(found, output, FILE_COLUMNS if output is Output.table else {})


@job_file_app.command("stream")
def job_file_stream(
    resource_group: Group, workspace: Workspace, job: JobOpt,
    file_name: Annotated[str, typer.Option("--file-name", "-f")], experiment: Experiment = None,
    directory: DirOpt = "stdouterr", path: PathOpt = ".",
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    """Print the file as it grows until the job ends (a GET with Range each second)."""
    client = _client(subscription)
    name = _experiment(experiment)
    url: str | None = None
    downloaded = 0
    said_waiting = False
    with _service():
        while True:
            state = client.jobs.get(resource_group, workspace, name, job).execution_state
            if url is None:
                found = [
                    f
                    for f in _files(client, resource_group, workspace, name, job, directory, path)
                    if f.name == file_name
                ]
                url = found[0].download_url if found else None
                if url is None:
                    if state in ("succeeded", "failed"):
                        _fail(f"the job has ended and has no file {file_name}")
                    if not said_waiting:
                        console.print("File not found, waiting...", highlight=False)
                        said_waiting = True
            if url is not None:
                response = httpx.get(url, headers={"Range": f"bytes={downloaded}-"}, timeout=30)
                if 200 <= response.status_code < 300:
                    typer.echo(response.content.decode(errors="replace"), nl=False)
                    downloaded += len(response.content)
                if state in ("succeeded", "failed"):
                    return
            time.sleep(1)


@job_node_app.command("list")
def job_node_list(
    resource_group: Group, workspace: Workspace, job: JobOpt, experiment: Experiment = None,
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    with _service():
        found = _client(subscription).jobs.list_remote_login_information(
            resource_group, workspace, _experiment(experiment), job
        )
        _show(list(found), output, NODE_COLUMNS)


# -- file servers and usages -------------------------------------------------------------
FileServerName = Annotated[str, typer.Option("--name", "-n", help="File server name")]


def _file_servers(subscription: str) -> Any:
    return _client(subscription).file_servers


@file_server_app.command(
    "create", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def file_server_create(
    resource_group: Group, workspace: Workspace, name: FileServerName,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    """Refused: trainforge runs no NFS servers (the service's error, exit 1)."""
    with _service():
        _file_servers(subscription).create(resource_group, workspace, name)


@file_server_app.command("show")
def file_server_show(
    resource_group: Group, workspace: Workspace, name: FileServerName,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    with _service():
        _file_servers(subscription).get(resource_group, workspace, name)


@file_server_app.command("list")
def file_server_list(
    resource_group: Group, workspace: Workspace, subscription: Subscription = DEFAULT_SUBSCRIPTION
) -> None:
    with _service():
        _file_servers(subscription).list_by_workspace(resource_group, workspace)


@file_server_app.command("delete")
def file_server_delete(
    resource_group: Group, workspace: Workspace, name: FileServerName, yes: Yes = False,
    subscription: Subscription = DEFAULT_SUBSCRIPTION,
) -> None:  # fmt: skip
    with _service():
        _file_servers(subscription).delete(resource_group, workspace, name)


USAGE_COLUMNS = {
    "Name": lambda u: (u.name.localized_value or u.name.value) if u.name else None,
    "Used": lambda u: u.current_value,
    "Limit": lambda u: u.limit,
}


@batchai_app.command("list-usages")
def list_usages(
    location: Annotated[str, typer.Option("--location", "-l", help="Location")],
    subscription: Subscription = DEFAULT_SUBSCRIPTION, output: OutputOpt = Output.table,
) -> None:  # fmt: skip
    """The vCPUs the location's clusters use now, and at their maximum size."""
    with _service():
        _show(list(_client(subscription).usages.list(location)), output, USAGE_COLUMNS)
