"""``trainforge``: manage the local control plane, workspaces and runs from a shell."""

from __future__ import annotations

import json
import sys
import webbrowser
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trainforge.cli.batchai import batchai_app
from trainforge.cli.common import (
    EXIT_CODES,
    EXIT_NO_SERVER,
    EXIT_USAGE,
    HomeOption,
    TrainforgeGroup,
    WorkspaceOption,
    _error_line,
    _fail,
    _final,
    _home,
    _workspace,
    console,
    errors,
)
from trainforge.cli.datastore import datastore_app
from trainforge.cli.environments import environment_app
from trainforge.cli.models import model_app
from trainforge.cli.output import OutputFormat, OutputOption, emit, print_table
from trainforge.cli.pipeline import pipeline_app
from trainforge.cli.services import service_app
from trainforge.cli.sweep import sweep_app
from trainforge.client import local_server
from trainforge.schemas import compute_settings

if TYPE_CHECKING:
    from trainforge.client.api.computes import ComputesApi
    from trainforge.core.compute import AmlCompute

# Plain help (no rich panels): flags show no "<bool>" placeholder.
app = typer.Typer(
    help="trainforge: Azure ML SDK v1 workflows on your own machines.",
    epilog=EXIT_CODES,
    rich_markup_mode=None,
    cls=TrainforgeGroup,
    add_completion=False,
)
workspace_app = typer.Typer(
    help="Create, list and show workspaces.", no_args_is_help=True, rich_markup_mode=None
)
experiment_app = typer.Typer(
    help="List a workspace's experiments.", no_args_is_help=True, rich_markup_mode=None
)
run_app = typer.Typer(
    help="Submit, list, follow, download and cancel runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
compute_app = typer.Typer(
    help="Create, scale, inspect and delete compute clusters (AmlCompute).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(workspace_app, name="workspace")
app.add_typer(experiment_app, name="experiment")
app.add_typer(run_app, name="run")
app.add_typer(compute_app, name="compute")
app.add_typer(datastore_app, name="datastore")
app.add_typer(environment_app, name="environment")
app.add_typer(sweep_app, name="sweep")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(model_app, name="model")
app.add_typer(service_app, name="service")
app.add_typer(batchai_app, name="batchai")


@app.callback(invoke_without_command=True)
def _main(ctx: typer.Context) -> None:
    """trainforge: Azure ML SDK v1 workflows on your own machines."""
    if ctx.invoked_subcommand is None:  # bare `trainforge`: the help, on stdout, exit 0
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


# -- server ----------------------------------------------------------------------------
@app.command()
def up(
    home: HomeOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port on 127.0.0.1 [default: the one this home used last, else "
            "TRAINFORGE_PORT or 8765; 0: any free port]"
        ),
    ] = None,
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
        _fail(
            f"no trainforge server running for {_home(home)} (start it: trainforge up)",
            EXIT_NO_SERVER,
        )
    console.print(
        f"trainforge server running at {state.address} (pid {state.pid}); home {_home(home)}"
    )


@app.command()
def studio(
    home: HomeOption = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open it in the web browser")
    ] = True,
) -> None:
    """Open the studio signed in: a one-time link (good for minutes) sets a cookie in the
    browser, which keeps it signed in; the port stays the same across restarts, so the
    studio links the SDK prints keep working."""
    from trainforge.client.api.studio import StudioApi
    from trainforge.client.http import Endpoint, TrainforgeClient

    state = local_server.ensure_server(_home(home))
    with closing(TrainforgeClient(Endpoint(state.address, state.token))) as client:
        url = StudioApi(client).login_link()
    console.print(url, soft_wrap=True, highlight=False)
    if browser:
        webbrowser.open(url)


# -- workspaces ------------------------------------------------------------------------
@workspace_app.command("create")
def workspace_create(
    name: str,
    subscription_id: Annotated[
        str | None, typer.Option(help="Recorded as the SDK's (default: a local one)")
    ] = None,
    resource_group: Annotated[str | None, typer.Option(help="Recorded as the SDK's")] = None,
    location: Annotated[str | None, typer.Option(help="Recorded as the SDK's")] = None,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Use the workspace if it exists already")
    ] = False,
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
    typer.echo(json.dumps(ws.get_details(), indent=2))


@workspace_app.command("show")
def workspace_show(
    name: Annotated[str | None, typer.Argument(help="Default: from config.json")] = None,
) -> None:
    """Show a workspace's details (get_details)."""
    typer.echo(json.dumps(_workspace(name).get_details(), indent=2))


@workspace_app.command("list")
def workspace_list(output: OutputOption = OutputFormat.table) -> None:
    """List the workspaces of this server (Workspace.list)."""
    from trainforge.core import Workspace

    rows = [
        {
            "name": ws.name,
            "resource group": ws.resource_group,
            "location": ws.location,
            "subscription": ws.subscription_id,
        }
        for found in Workspace.list().values()
        for ws in found
    ]
    emit(rows, output, ["name", "resource group", "location", "subscription"])


# -- experiments -----------------------------------------------------------------------
@experiment_app.command("list")
def experiment_list(
    workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """List the workspace's experiments (Experiment.list)."""
    from trainforge.core import Experiment

    rows = [{"name": e.name, "id": e.id} for e in Experiment.list(_workspace(workspace))]
    emit(rows, output, ["name", "id"])


# -- runs ------------------------------------------------------------------------------
def _tags(values: list[str] | None) -> dict[str, str | None]:
    tags: dict[str, str | None] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not key:
            _fail(f"--tag {item!r}: give KEY=VALUE (or KEY alone)", EXIT_USAGE)
        tags[key] = value if sep else None
    return tags


def _environment(ws: Any, spec: str | None) -> Any:
    if spec is None:
        return None
    from trainforge.core import Environment

    name, _, version = spec.partition(":")
    return Environment.get(ws, name, version=version or None)


@run_app.command("submit")
def run_submit(
    script: Annotated[
        str | None, typer.Option(help="Entry script, relative to --source-dir")
    ] = None,
    source_dir: Annotated[Path, typer.Option("--source-dir", help="Folder to snapshot")] = Path(
        "."
    ),
    experiment: Annotated[
        str, typer.Option("--experiment", "-e", help="Experiment name")
    ] = "default",
    compute: Annotated[
        str,
        typer.Option(
            "--compute",
            "--target",
            "-c",
            help="Where to run: 'local' or a cluster made with trainforge compute create",
        ),
    ] = "local",
    environment: Annotated[
        str | None,
        typer.Option(
            help="Registered environment, NAME or NAME:VERSION (default: the submitting Python)"
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tag the run: KEY=VALUE or KEY (repeatable)")
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            help="A shell command line to run instead of --script (ScriptRunConfig command)"
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Stream the log until the run ends; exit 1 unless it completes"
        ),
    ] = False,
    args: Annotated[
        list[str] | None, typer.Argument(help="Arguments for the script, after --")
    ] = None,
) -> None:
    """Submit a script run: trainforge run submit --script train.py -c cpu-cluster -- --lr 0.1"""
    from trainforge.core import Experiment, ScriptRunConfig

    if (script is None) == (command is None):
        _fail("give --script (with arguments after --) or --command", EXIT_USAGE)
    ws = _workspace(workspace)
    config = ScriptRunConfig(
        source_directory=str(source_dir),
        script=script,
        arguments=list(args or []) if script else None,
        command=command,
        compute_target=compute,
        environment=_environment(ws, environment),
    )
    run = Experiment(ws, experiment).submit(config, tags=_tags(tag))
    console.print(
        f"submitted run {run.id} (experiment {experiment}, target {compute})\n"
        f"studio: {run.get_portal_url()}",
        highlight=False,
        soft_wrap=True,
    )
    if wait:
        _final(run, run.wait_for_completion(show_output=True, raise_on_error=False))


def _key_values(pairs: list[str] | None, option: str) -> list[str] | dict[str, str] | None:
    """``KEY=VALUE`` options as the SDK's key -> value filter; bare ``KEY`` options (the key
    present, any value) as its list of keys."""
    if not pairs:
        return None
    split = [pair.partition("=") for pair in pairs]
    if any(not key for key, _, _ in split):
        raise typer.BadParameter("give KEY or KEY=VALUE", param_hint=option)
    if all(not sep for _, sep, _ in split):
        return [key for key, _, _ in split]
    if not all(sep for _, sep, _ in split):
        raise typer.BadParameter(
            "give every one as KEY=VALUE, or every one as KEY", param_hint=option
        )
    return {key: value for key, _, value in split}


@run_app.command("list")
def run_list(
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only this experiment's runs")
    ] = None,
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs")] = 50,
    status: Annotated[str | None, typer.Option(help="Only runs in this status")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE, or KEY for any value; repeatable")
    ] = None,
    property: Annotated[list[str] | None, typer.Option(help="As --tag, for properties")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only runs created at or after this time (UTC)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Only runs created before this time (UTC)")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Conditions joined by 'and' / 'or' with parentheses, as the studio's: "
            "'metrics.accuracy > 0.9', 'max(metrics.acc) >= 0.8 or properties.stage = prod'; "
            "repeatable (joined by 'and')"
        ),
    ] = None,
    order_by: Annotated[
        str | None,
        typer.Option(
            "--order-by",
            help="Sort instead of newest first: created, start_time, end_time, duration, "
            "status, name, number, target, metrics.NAME, tags.KEY or properties.KEY, then "
            "asc (the default) or desc, e.g. 'metrics.accuracy desc'",
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List runs, newest first (or as --order-by says); the server filters, sorts and pages
    them."""
    from trainforge.core.run import info_of, list_runs

    rows = []
    found = list_runs(
        _workspace(workspace),
        experiment=experiment,
        status=status,
        tags=_key_values(tag, "--tag"),
        properties=_key_values(property, "--property"),
        created_after=_utc(since),
        created_before=_utc(until),
        page_size=min(limit, 1000),
        **({"filter": where} if where else {}),
        **({"order_by": order_by} if order_by else {}),
    )
    for run in found:
        if len(rows) >= limit:
            break
        info = info_of(run)
        rows.append(
            {
                "run id": run.id,
                "experiment": run.experiment.name,
                "#": run.number,
                "status": run.status,
                "target": info.target or "",
                "created (UTC)": info.created_utc.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    emit(rows, output)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@run_app.command("show")
def run_show(
    run_id: str, workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """A run's summary; -o json gives every detail and the metrics."""
    run = _workspace(workspace).get_run(run_id)
    details = {**run.get_details(), "metrics": run.get_metrics()}
    if output is OutputFormat.json:
        typer.echo(json.dumps(details, indent=2, default=str))
        return
    if output is OutputFormat.ids:
        typer.echo(run.id)
        return
    definition = details.get("runDefinition") or {}
    what = definition.get("script") or " ".join(definition.get("command") or [])
    rows = [
        ("run id", run.id),
        ("experiment", run.experiment.name),
        ("status", details["status"]),
        ("target", details.get("target") or ""),
        ("started (UTC)", details.get("startTimeUtc") or ""),
        ("ended (UTC)", details.get("endTimeUtc") or ""),
        ("runs", " ".join([what, *definition.get("arguments", [])]).strip()),
        ("nodes", str(definition.get("node_count", 1))),
        ("tags", ", ".join(f"{k}={v}" if v is not None else k for k, v in run.tags.items())),
        ("logs", ", ".join(details.get("logFiles", {}))),
        ("studio", run.get_portal_url()),
    ]
    if "error" in details:
        rows.insert(3, ("error", _error_line(details["error"])))
    for name, value in details["metrics"].items():
        rows.append((f"metric {name}", json.dumps(value, default=str)))
    if output is OutputFormat.tsv:
        for key, value in rows:
            typer.echo(f"{key}\t{value}")
        return
    print_table(["field", "value"], [[k, v] for k, v in rows])


@run_app.command("files")
def run_files(
    run_id: str,
    prefix: Annotated[str | None, typer.Option(help="Only files whose name starts so")] = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List a run's files (logs, outputs, uploads) with their sizes."""
    from trainforge.client.api import api
    from trainforge.client.api.files import FilesApi

    run = _workspace(workspace).get_run(run_id)
    found = api(run.experiment.workspace, FilesApi).list(run.id, prefix=prefix or "")
    emit([{"name": f.name, "bytes": f.size} for f in found], output, ["name", "bytes"])


@run_app.command("download")
def run_download(
    run_id: str,
    prefix: Annotated[
        str | None, typer.Option(help="Only files whose name starts so, e.g. outputs/")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-d", help="Folder to download into")
    ] = Path("."),
    workspace: WorkspaceOption = None,
) -> None:
    """Download a run's files (download_files), their names kept under --output-dir."""
    run = _workspace(workspace).get_run(run_id)
    names = [n for n in run.get_file_names() if n.startswith(prefix or "")]
    run.download_files(prefix=prefix, output_directory=str(output_dir))
    console.print(f"downloaded {len(names)} files of run {run.id} to {output_dir}", highlight=False)


@run_app.command("logs")
def run_logs(
    run_id: str,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Stream until the run ends; exit 1 unless it completes"
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print a run's driver log; with --follow, stream it until the run ends."""
    from trainforge.client import log_stream
    from trainforge.client.api import api
    from trainforge.client.api.files import FilesApi
    from trainforge.client.api.runs import RunsApi

    run = _workspace(workspace).get_run(run_id)
    runs = api(run.experiment.workspace, RunsApi)
    if follow:
        try:
            log_stream.follow(
                runs, run.id, lambda text: (sys.stdout.write(text), sys.stdout.flush())
            )
        except KeyboardInterrupt:
            _fail(
                f"stopped following; run {run.id} goes on. To cancel it: "
                f"trainforge run cancel {run.id} -w {run.experiment.workspace.name}",
                130,
            )
        sys.stdout.flush()
        with _to_stderr():
            _final(run, run.get_details())
        return
    name = log_stream.pick_log(run.get_file_names())
    if name is None:
        _fail(f"run {run_id} has no log yet")
    for chunk in api(run.experiment.workspace, FilesApi).download(run.id, name):
        sys.stdout.buffer.write(chunk)


def _to_stderr() -> Any:
    """The final status after a followed log goes to stderr: stdout is the log itself."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr)


@run_app.command("cancel")
def run_cancel(run_id: str, workspace: WorkspaceOption = None) -> None:
    """Cancel a run; its processes are stopped."""
    run = _workspace(workspace).get_run(run_id)
    run.cancel()
    console.print(f"run {run_id}: {run.get_status()}", highlight=False, soft_wrap=True)


# -- compute ---------------------------------------------------------------------------
def _cluster(name: str, workspace: str | None) -> AmlCompute:
    from trainforge.core.compute import AmlCompute

    return AmlCompute(_workspace(workspace), name)


@contextmanager
def _computes(workspace: str | None) -> Iterator[ComputesApi]:
    """The workspace's computes resource; a refusal is the SDK's ComputeTargetException."""
    from trainforge.core.compute.compute import compute_errors, computes_api

    with compute_errors():
        yield computes_api(_workspace(workspace))


def _scale(cluster: AmlCompute) -> str:
    scale = cluster.scale_settings
    return (
        f"{scale.minimum_node_count}-{scale.maximum_node_count} nodes, "
        f"idle scale-down after {scale.idle_seconds_before_scaledown} s"
    )


@compute_app.command("create")
def compute_create(
    name: str,
    vm_size: Annotated[
        str | None, typer.Option(help=f"VM size [default: {compute_settings.DEFAULT_VM_SIZE}]")
    ] = None,
    vm_priority: Annotated[
        str | None,
        typer.Option(
            help=f"dedicated or lowpriority [default: {compute_settings.DEFAULT_VM_PRIORITY}]"
        ),
    ] = None,
    min_nodes: Annotated[
        int | None,
        typer.Option(help=f"Nodes always kept [default: {compute_settings.DEFAULT_MIN_NODES}]"),
    ] = None,
    max_nodes: Annotated[
        int | None,
        typer.Option(
            help=f"Most nodes the cluster grows to [default: {compute_settings.DEFAULT_MAX_NODES}]"
        ),
    ] = None,
    idle_seconds: Annotated[
        int | None,
        typer.Option(
            help="Idle seconds before a node is released "
            f"[default: {compute_settings.DEFAULT_IDLE_SECONDS}]"
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until min-nodes nodes are provisioned")
    ] = False,
) -> None:
    """Create an AmlCompute cluster (ComputeTarget.create); the defaults are the SDK's."""
    from trainforge.core.compute import AmlCompute
    from trainforge.core.compute.compute import checked
    from trainforge.schemas.compute import ComputeCreate

    # The rules are the schema's, the same the SDK and the REST API apply.
    request = checked(
        ComputeCreate,
        {
            "name": name,
            "vm_size": vm_size,
            "vm_priority": vm_priority,
            "scale_settings": {
                "min_nodes": min_nodes,
                "max_nodes": max_nodes,
                "idle_seconds_before_scaledown": idle_seconds,
            },
        },
    )
    with _computes(workspace) as computes:
        computes.create(request)
    cluster = AmlCompute(_workspace(workspace), name)
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
    typer.echo(json.dumps(status.serialize() if status else None, indent=2))


@compute_app.command("list")
def compute_list(
    workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """List the workspace's compute clusters."""
    from trainforge.core.compute.amlcompute_status import service_priority

    with _computes(workspace) as computes:
        found = computes.list()
    rows = [
        {
            "name": info.name,
            "vm size": info.vm_size,
            "priority": service_priority(info.vm_priority),
            "state": info.provisioning_state,
            "nodes (current/target)": (
                f"{info.status.current_node_count}/{info.status.target_node_count}"
            ),
            "min/max": f"{info.scale_settings.min_nodes}/{info.scale_settings.max_nodes}",
        }
        for info in found
    ]
    emit(rows, output)


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
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask, even when runs are running on it")
    ] = False,
) -> None:
    """Delete a cluster: its nodes are released and unfinished runs on it fail."""
    cluster = _cluster(name, workspace)
    with _computes(workspace) as computes:
        busy = sorted({node.run_id for node in computes.nodes(name) if node.run_id})
    if busy and not yes:
        errors.print(
            f"{len(busy)} run(s) running on {name} will fail: {', '.join(busy)}",
            highlight=False,
            soft_wrap=True,
        )
        if not typer.confirm(f"Delete compute {name}?", err=True):
            _fail(f"compute {name} was not deleted")
    cluster.delete()
    console.print(f"compute {cluster.name}: {cluster.provisioning_state}")
    if wait:
        cluster.wait_for_completion(show_output=True, is_delete_operation=True)


@compute_app.command("nodes")
def compute_nodes(
    name: str, workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """List a cluster's nodes (list_nodes)."""
    with _computes(workspace) as computes:
        found = computes.nodes(name)
    rows = [
        {
            "node id": node.node_id,
            "state": node.state,
            "run id": node.run_id or "",
            "private ip": node.private_ip_address or "",
            "port": "" if node.port is None else str(node.port),
        }
        for node in found
    ]
    emit(rows, output, ["node id", "state", "run id", "private ip", "port"])


@compute_app.command("preempt")
def compute_preempt(name: str, node_id: str, workspace: WorkspaceOption = None) -> None:
    """Preempt a node of a low-priority cluster, as Azure does; its run is queued again."""
    with _computes(workspace) as computes:
        node = computes.preempt(name, node_id)
    console.print(f"node {node.node_id}: {node.state}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
