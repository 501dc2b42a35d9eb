"""``trainforge``: manage the local control plane, workspaces and runs from a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from trainforge.cli.common import HomeOption, WorkspaceOption, _fail, _home, _workspace, console
from trainforge.cli.datastore import datastore_app
from trainforge.cli.environments import environment_app
from trainforge.cli.sweep import sweep_app
from trainforge.client import local_server
from trainforge.exceptions import AzureMLException

if TYPE_CHECKING:
    from trainforge.core.compute import AmlCompute

app = typer.Typer(
    help="trainforge: Azure ML SDK v1 workflows on your own machines.", no_args_is_help=True
)
workspace_app = typer.Typer(help="Create and show workspaces.", no_args_is_help=True)
run_app = typer.Typer(help="Submit, list, follow and cancel runs.", no_args_is_help=True)
compute_app = typer.Typer(
    help="Create, scale, inspect and delete compute clusters (AmlCompute).", no_args_is_help=True
)
app.add_typer(workspace_app, name="workspace")
app.add_typer(run_app, name="run")
app.add_typer(compute_app, name="compute")
app.add_typer(datastore_app, name="datastore")
app.add_typer(environment_app, name="environment")
app.add_typer(sweep_app, name="sweep")
@app.callback()
def _main() -> None:
    """trainforge: Azure ML SDK v1 workflows on your own machines."""


# -- server ----------------------------------------------------------------------------
@app.command()
def up(
    home: HomeOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port)")] = 0,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite in the home)")
    ] = None,
) -> None:
    """Start the control plane for this home, if it is not running."""
    state = local_server.ensure_server(_home(home), port=port, database_url=database_url)
    console.print(f"trainforge server running at {state.address} (pid {state.pid})")


@app.command()
def down(
    home: HomeOption = None,
    all_processes: Annotated[
        bool, typer.Option("--all", help="Also stop every node agent and run process it started")
    ] = False,
) -> None:
    """Stop the control plane. Runs go on and report when it is back, unless --all."""
    if all_processes:
        killed = local_server.stop_all(_home(home))
        console.print(f"stopped the server and {len(killed)} node agent and run processes")
        return
    stopped = local_server.stop_server(_home(home))
    console.print(f"stopped server pid {stopped.pid}" if stopped else "no server was running")


@app.command()
def status(home: HomeOption = None) -> None:
    """Show whether the control plane runs, where, and with which pid."""
    state = local_server.running_server(_home(home))
    if state is None:
        console.print(f"no trainforge server running for {_home(home)}")
        raise typer.Exit(3)
    console.print(
        f"trainforge server running at {state.address} (pid {state.pid}); home {_home(home)}"
    )


@app.command()
def studio(home: HomeOption = None) -> None:
    """Print the studio's sign-in link (the token travels in the URL fragment only)."""
    state = local_server.ensure_server(_home(home))
    console.print(f"{state.address}/studio/#token={state.token}", soft_wrap=True)


# -- workspaces ------------------------------------------------------------------------
@workspace_app.command("create")
def workspace_create(
    name: str,
    subscription_id: Annotated[str | None, typer.Option()] = None,
    resource_group: Annotated[str | None, typer.Option()] = None,
    location: Annotated[str | None, typer.Option()] = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok")] = False,
    write_config: Annotated[
        Path | None, typer.Option(help="Write .azureml/config.json under this folder")
    ] = None,
) -> None:
    """Create a workspace (Workspace.create)."""
    from trainforge.core import Workspace

    ws = Workspace.create(
        name,
        subscription_id=subscription_id,
        resource_group=resource_group,
        location=location,
        exist_ok=exist_ok,
        show_output=False,
    )
    if write_config is not None:
        ws.write_config(str(write_config))
    console.print_json(json.dumps(ws.get_details()))


@workspace_app.command("show")
def workspace_show(
    name: Annotated[str | None, typer.Argument(help="Default: from config.json")] = None,
) -> None:
    """Show a workspace's details (get_details)."""
    console.print_json(json.dumps(_workspace(name).get_details()))


# -- runs ------------------------------------------------------------------------------
@run_app.command("submit")
def run_submit(
    script: Annotated[str, typer.Option(help="Entry script, relative to the source folder")],
    source_dir: Annotated[Path, typer.Option("--source-dir", help="Folder to snapshot")] = Path(
        "."
    ),
    experiment: Annotated[str, typer.Option("--experiment", "-e")] = "default",
    workspace: WorkspaceOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Stream the log until the run ends")] = False,
    args: Annotated[
        list[str] | None, typer.Argument(help="Arguments for the script, after --")
    ] = None,
) -> None:
    """Submit a script run to the 'local' target: trainforge run submit --script train.py -- --lr 0.1"""
    from trainforge.core import Experiment, ScriptRunConfig

    exp = Experiment(_workspace(workspace), experiment)
    run = exp.submit(
        ScriptRunConfig(source_directory=str(source_dir), script=script, arguments=list(args or []))
    )
    console.print(f"submitted run {run.id} (experiment {experiment})")
    if wait:
        details = run.wait_for_completion(show_output=True, raise_on_error=False)
        raise typer.Exit(0 if details["status"] == "Completed" else 1)


@run_app.command("list")
def run_list(
    experiment: Annotated[str | None, typer.Option("--experiment", "-e")] = None,
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many runs")] = 50,
) -> None:
    """List runs, newest first."""
    from trainforge.core.run import list_runs

    table = Table("run id", "experiment", "#", "status", "created (UTC)")
    for i, run in enumerate(list_runs(_workspace(workspace), experiment=experiment)):
        if i >= limit:
            break
        table.add_row(
            run.id,
            run.experiment.name,
            str(run.number),
            run.status,
            run._info.created_utc.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@run_app.command("show")
def run_show(run_id: str, workspace: WorkspaceOption = None) -> None:
    """Show a run's details and metrics."""
    run = _workspace(workspace).get_run(run_id)
    console.print_json(json.dumps({**run.get_details(), "metrics": run.get_metrics()}, default=str))


@run_app.command("logs")
def run_logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until the run ends")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print a run's driver log; with --follow, stream it until the run ends."""
    from trainforge.client import log_stream

    run = _workspace(workspace).get_run(run_id)
    client, path = run._session.client, run._path
    if follow:
        log_stream.follow(client, path, lambda text: (sys.stdout.write(text), sys.stdout.flush()))
        return
    name = log_stream.pick_log(run.get_file_names())
    if name is None:
        _fail(f"run {run_id} has no log yet")
    for chunk in client.download(f"{path}/files/{name}"):
        sys.stdout.buffer.write(chunk)


@run_app.command("cancel")
def run_cancel(run_id: str, workspace: WorkspaceOption = None) -> None:
    """Cancel a run; its processes are stopped."""
    run = _workspace(workspace).get_run(run_id)
    run.cancel()
    console.print(f"run {run_id}: {run.get_status()}")


# -- compute ---------------------------------------------------------------------------
def _cluster(name: str, workspace: str | None) -> AmlCompute:
    from trainforge.core.compute import AmlCompute

    return AmlCompute(_workspace(workspace), name)


def _scale(cluster: AmlCompute) -> str:
    scale = cluster.scale_settings
    return (
        f"{scale.minimum_node_count}-{scale.maximum_node_count} nodes, "
        f"idle scale-down after {scale.idle_seconds_before_scaledown} s"
    )


@compute_app.command("create")
def compute_create(
    name: str,
    vm_size: Annotated[str, typer.Option(help="VM size (default: STANDARD_NC6)")] = "",
    vm_priority: Annotated[str, typer.Option(help="dedicated or lowpriority")] = "dedicated",
    min_nodes: Annotated[int, typer.Option(help="Nodes always kept")] = 0,
    max_nodes: Annotated[int, typer.Option(help="Most nodes the cluster grows to")] = 4,
    idle_seconds: Annotated[
        int, typer.Option(help="Idle seconds before a node is released")
    ] = 1800,
    workspace: WorkspaceOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until min-nodes nodes are provisioned")
    ] = False,
) -> None:
    """Create an AmlCompute cluster (ComputeTarget.create)."""
    from trainforge.core.compute import AmlCompute, ComputeTarget

    config = AmlCompute.provisioning_configuration(
        vm_size=vm_size,
        vm_priority=vm_priority,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        idle_seconds_before_scaledown=idle_seconds,
    )
    cluster = ComputeTarget.create(_workspace(workspace), name, config)
    console.print(
        f"compute {cluster.name}: {cluster.vm_size}, {cluster.vm_priority}, {_scale(cluster)}; "
        f"{cluster.provisioning_state}"
    )
    if wait:
        cluster.wait_for_completion(show_output=True)


@compute_app.command("show")
def compute_show(name: str, workspace: WorkspaceOption = None) -> None:
    """Show a cluster's status (get_status().serialize())."""
    status = _cluster(name, workspace).get_status()
    console.print_json(json.dumps(status.serialize() if status else None))


@compute_app.command("list")
def compute_list(workspace: WorkspaceOption = None) -> None:
    """List the workspace's compute clusters."""
    from trainforge.core.compute import ComputeTarget

    table = Table("name", "vm size", "priority", "state", "nodes (current/target)", "min/max")
    for target in ComputeTarget.list(_workspace(workspace)):
        status = getattr(target, "_status", None)
        scale = getattr(target, "scale_settings", None)
        table.add_row(
            target.name,
            getattr(target, "vm_size", ""),
            getattr(target, "vm_priority", ""),
            target.provisioning_state,
            f"{status.current_node_count}/{status.target_node_count}" if status else "",
            f"{scale.minimum_node_count}/{scale.maximum_node_count}" if scale else "",
        )
    console.print(table)


@compute_app.command("update")
def compute_update(
    name: str,
    min_nodes: Annotated[int | None, typer.Option(help="Nodes always kept")] = None,
    max_nodes: Annotated[int | None, typer.Option(help="Most nodes the cluster grows to")] = None,
    idle_seconds: Annotated[
        int | None, typer.Option(help="Idle seconds before a node is released")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Change a cluster's scale settings; unspecified ones are kept."""
    cluster = _cluster(name, workspace)
    cluster.update(
        min_nodes=min_nodes, max_nodes=max_nodes, idle_seconds_before_scaledown=idle_seconds
    )
    console.print(f"compute {cluster.name}: {_scale(cluster)}")


@compute_app.command("ray-config")
def compute_ray_config(
    vm_size: Annotated[str, typer.Option(help="VM size of one node")] = "STANDARD_D2_V2",
    min_nodes: Annotated[int, typer.Option(help="Nodes always kept")] = 0,
    max_nodes: Annotated[int, typer.Option(help="Most nodes the cluster grows to")] = 4,
    idle_seconds: Annotated[
        int, typer.Option(help="Idle seconds before a node is released")
    ] = 1800,
    kuberay: Annotated[
        str | None,
        typer.Option(help="Print a KubeRay RayCluster.spec fragment whose workers run this image"),
    ] = None,
) -> None:
    """Print the Ray autoscaler settings of a Ray-backed cluster: YAML to merge into a
    `ray up` cluster file (or, with --kuberay IMAGE, into a KubeRay RayCluster spec)."""
    import yaml

    from trainforge.compute.ray_autoscaler import RayScaling, kuberay_fragment, ray_up_fragment

    try:
        scaling = RayScaling(
            vm_size=vm_size,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds,
        )
        fragment = kuberay_fragment(scaling, kuberay) if kuberay else ray_up_fragment(scaling)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(yaml.safe_dump(fragment, sort_keys=False), nl=False)


@compute_app.command("delete")
def compute_delete(
    name: str,
    workspace: WorkspaceOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the cluster is gone")] = False,
) -> None:
    """Delete a cluster: its nodes are released and unfinished runs on it fail."""
    cluster = _cluster(name, workspace)
    cluster.delete()
    console.print(f"compute {cluster.name}: {cluster.provisioning_state}")
    if wait:
        cluster.wait_for_completion(show_output=True, is_delete_operation=True)


@compute_app.command("nodes")
def compute_nodes(name: str, workspace: WorkspaceOption = None) -> None:
    """List a cluster's nodes (list_nodes)."""
    table = Table("node id", "state", "run id", "private ip", "port")
    for node in _cluster(name, workspace).list_nodes():
        table.add_row(
            node["nodeId"],
            node["nodeState"],
            node["runId"] or "",
            node["privateIpAddress"] or "",
            "" if node["port"] is None else str(node["port"]),
        )
    console.print(table)


@compute_app.command("preempt")
def compute_preempt(name: str, node_id: str, workspace: WorkspaceOption = None) -> None:
    """Preempt a node of a low-priority cluster, as Azure does; its run is queued again."""
    node = _cluster(name, workspace).preempt_node(node_id)
    console.print(f"node {node['nodeId']}: {node['nodeState']}")


def main() -> None:
    try:
        app()
    except AzureMLException as exc:
        console.print(f"[red]{type(exc).__name__}:[/red] {exc.message}")
        sys.exit(1)


if __name__ == "__main__":
    main()
