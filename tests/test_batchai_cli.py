"""``trainforge batchai`` (the ``az batchai`` commands) under Typer's CliRunner against the
control plane in-process: workspaces, clusters from flags and from -f cluster.json,
resize and auto-scale, experiments, ``job create -f job.json`` (2018-05-01 and a
2017-09-01-preview payload), show, list, file list, terminate and delete, and the
service's refusals as one error line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.cli import flat
from trainforge.cli.main import app

pytestmark = pytest.mark.usefixtures("cli_server")
W = ["-g", "rg", "-w", "bai-cli"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["batchai", *args], env={"COLUMNS": "250"})


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def manual_cluster(target: str) -> None:
    """``cluster create`` from flags: a manual-scale cluster 'cpu' of ``target`` nodes."""
    flags = ["-n", "cpu", "-s", "STANDARD_D2_V2", "-t", target, "-u", "demo", "-p", "Dem0Pa$$w0rd"]
    ok("cluster", "create", *W, *flags)


def test_workspace_cluster_experiment_and_job(tmp_path: Path) -> None:
    created = json.loads(ok("workspace", "create", "-g", "rg", "-n", "bai-cli", "-l", "westeurope"))
    assert created["name"] == "bai-cli" and created["location"] == "westeurope"
    assert "bai-cli" in ok("workspace", "list", "-g", "rg")
    manual_cluster("1")
    cluster_file = tmp_path / "cluster.json"
    cluster_file.write_text(json.dumps({"properties": {
        "vmSize": "STANDARD_D2_V2", "vmPriority": "lowpriority",
        "scaleSettings": {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}},
        "userAccountSettings": {"adminUserName": "demo", "adminUserPassword": "Dem0Pa$$w0rd"}}}))  # fmt: skip
    auto = json.loads(ok("cluster", "create", *W, "-n", "auto", "-f", str(cluster_file)))
    assert (
        auto["scaleSettings"]["autoScale"]["maximumNodeCount"] == 2
        and auto["vmPriority"] == "lowpriority"
    )
    table = flat(ok("cluster", "list", *W))
    assert (
        "Name Resource Group Workspace VM Size State Idle Running Preparing Leaving Unusable"
        in table
    )
    resized = json.loads(ok("cluster", "resize", *W, "-n", "cpu", "-t", "2"))
    assert resized["scaleSettings"]["manual"]["targetNodeCount"] == 2
    switched = json.loads(ok("cluster", "auto-scale", *W, "-n", "cpu", "--min", "0", "--max", "3"))
    assert switched["scaleSettings"]["autoScale"] == {
        "minimumNodeCount": 0,
        "maximumNodeCount": 3,
        "initialNodeCount": 0,
    }
    ok("experiment", "create", *W, "-n", "exp")
    assert "exp" in ok("experiment", "list", *W)
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"$schema": "x", "properties": {
        "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
        "customToolkitSettings": {"commandLine": "echo hi"}}}))  # fmt: skip
    job = json.loads(
        ok("job", "create", *W, "-e", "exp", "-n", "cli_job", "-c", "cpu", "-f", str(job_file))
    )
    assert job["executionState"] == "queued" and job["cluster"]["id"].endswith("/clusters/cpu")
    shown = flat(ok("job", "list", *W, "-e", "exp"))
    assert "Name Cluster Cluster RG Cluster Workspace Tool Nodes State Exit code" in shown
    assert "cli_job cpu rg bai-cli custom 1 queued" in shown
    assert json.loads(ok("job", "show", *W, "-e", "exp", "-n", "cli_job"))["toolType"] == "custom"
    assert "Name Type Size Modified" in flat(
        ok("job", "file", "list", *W, "-e", "exp", "-j", "cli_job")
    )
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"properties": {
        "experimentName": "exp", "priority": -10, "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
        "customToolkitSettings": {"commandLine": "echo old"}}}))  # fmt: skip
    old = json.loads(ok("job", "create", *W, "-n", "legacy_job", "-c", "cpu", "-f", str(legacy)))
    assert old["schedulingPriority"] == "low"
    ok("job", "terminate", *W, "-e", "exp", "-n", "legacy_job", "-y", "--no-wait")
    waited = invoke("job", "wait", *W, "-e", "exp", "-n", "legacy_job", "--interval", "0.2")
    assert waited.exit_code == 1 and "completed with exit code None" in flat(waited.output)
    assert (
        json.loads(ok("job", "show", *W, "-e", "exp", "-n", "legacy_job"))["executionState"]
        == "failed"
    )
    ok("job", "delete", *W, "-e", "exp", "-n", "legacy_job", "-y", "--no-wait")
    assert "legacy_job" not in ok("job", "list", *W, "-e", "exp")
    assert "Node IP SSH Port" in flat(ok("job", "node", "list", *W, "-e", "exp", "-j", "cli_job"))
    assert "Node IP SSH Port" in flat(ok("cluster", "node", "list", *W, "-c", "cpu"))
    assert json.loads(ok("cluster", "show", *W, "-n", "auto"))["vmSize"] == "STANDARD_D2_V2"
    assert json.loads(ok("experiment", "show", *W, "-n", "exp"))["name"] == "exp"
    ok("experiment", "delete", *W, "-n", "exp", "-y")
    assert "exp" not in ok("experiment", "list", *W)
    assert invoke("job", "show", *W, "-e", "exp", "-n", "cli_job").exit_code == 1
    ok("cluster", "delete", *W, "-n", "auto", "-y", "--no-wait")
    shown = json.loads(ok("workspace", "show", "-g", "rg", "-n", "bai-cli"))
    assert shown["id"].endswith("/resourceGroups/rg/providers/Microsoft.BatchAI/workspaces/bai-cli")
    ok("workspace", "delete", "-g", "rg", "-n", "bai-cli", "-y")
    assert invoke("workspace", "show", "-g", "rg", "-n", "bai-cli").exit_code == 1


@pytest.mark.parametrize(
    ("properties", "said"),
    [
        ({"stdOutErrPathPrefix": "x", "customToolkitSettings": {}}, "nodeCount"),
        (
            {
                "nodeCount": 1,
                "stdOutErrPathPrefix": "x",
                "customToolkitSettings": {},
                "nodeCuont": 1,
            },
            "nodeCuont",
        ),
        (
            {
                "nodeCount": 1,
                "stdOutErrPathPrefix": "x",
                "customToolkitSettings": {},
                "mountVolumes": {
                    "azureBlobFileSystems": [
                        {
                            "accountName": "nosuchaccount",
                            "containerName": "c",
                            "credentials": {"accountKey": "k"},
                            "relativeMountPath": "b",
                        }
                    ]
                },
            },
            "nosuchaccount",
        ),
    ],  # fmt: skip
)
def test_bad_job_files_fail_with_one_line(tmp_path: Path, properties: dict[str, Any], said: str, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TRAINFORGE_BATCHAI_STORAGE_ROOT", str(tmp_path / "accounts"))
    ok("workspace", "create", "-g", "rg", "-n", "bai-cli")
    manual_cluster("0")
    ok("experiment", "create", *W, "-n", "exp")
    job_file = tmp_path / "bad.json"
    job_file.write_text(json.dumps({"properties": properties}))
    result = invoke("job", "create", *W, "-e", "exp", "-n", "bad", "-c", "cpu", "-f", str(job_file))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: (") and said in result.output
    assert "Traceback" not in result.output
    assert "bad" not in ok("job", "list", *W, "-e", "exp")
    both = invoke("cluster", "create", *W, "-n", "nope", "-f", "/nonexistent.json")
    assert both.exit_code != 0


def test_file_stream_usages_and_file_servers(tmp_path: Path, cli_server: Any) -> None:
    here = ["-g", "rg", "-w", "bai-stream"]
    ok("workspace", "create", "-g", "rg", "-n", "bai-stream", "-l", "northeurope")
    flags = ["-n", "cpu", "-s", "STANDARD_D2_V2", "-t", "1", "-u", "demo", "-p", "Dem0Pa$$w0rd"]
    ok("cluster", "create", *here, *flags)
    ok("experiment", "create", *here, "-n", "exp")
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"properties": {
        "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_TEMP",
        "customToolkitSettings": {"commandLine": "echo hi"}}}))  # fmt: skip
    ok("job", "create", *here, "-e", "exp", "-n", "s_job", "-c", "cpu", "-f", str(job_file))
    # What the job's launcher ships, then its end.
    run = "/workspaces/bai-stream/runs/s_job"
    cli_server.call("PUT", f"{run}/files/stdouterr/stdout.txt", content=b"line one\nline two\n")
    for status in ("Running", "Completed"):
        cli_server.call("PATCH", run, json={"status": status})
    streamed = ok("job", "file", "stream", *here, "-e", "exp", "-j", "s_job", "-f", "stdout.txt")
    assert streamed == "line one\nline two\n"
    missing = invoke("job", "file", "stream", *here, "-e", "exp", "-j", "s_job", "-f", "nope.txt")
    assert missing.exit_code == 1 and "has no file nope.txt" in flat(missing.output)

    usages = flat(ok("list-usages", "-l", "northeurope"))
    # The cluster's one node of 2 vCPUs at most, none running.
    assert "Name Used Limit Total Regional vCPUs 0 2" in usages
    refused = invoke("file-server", "create", *here, "-n", "nfs", "--disk-count", "2")
    assert refused.exit_code == 1
    assert "(FileServersNotSupported)" in flat(refused.output)
    assert invoke("file-server", "list", *here).exit_code == 1


KEY = "c2VjcmV0LWtleQ=="


def test_mounts_from_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_server: Any
) -> None:
    from trainforge.batchai.storage import BlockBlobService, FileService

    monkeypatch.setenv("TRAINFORGE_BATCHAI_STORAGE_ROOT", str(tmp_path / "accounts"))
    BlockBlobService("acct", KEY).create_container("data")
    FileService("acct", KEY).create_share("scripts")
    here = ["-g", "rg", "-w", "bai-mounts"]
    ok("workspace", "create", "-g", "rg", "-n", "bai-mounts", "-l", "westeurope")
    account = ["--storage-account-name", "acct", "--storage-account-key", KEY]
    flags = ["-n", "cpu", "-s", "STANDARD_D2_V2", "-t", "1", "-u", "demo", "-p", "Dem0Pa$$w0rd"]
    made = json.loads(
        ok(
            "cluster",
            "create",
            *here,
            *flags,
            *account,
            "--bfs-name",
            "data",
            "--afs-name",
            "scripts",
        )
    )
    volumes = made["nodeSetup"]["mountVolumes"]
    assert [
        (v["containerName"], v["relativeMountPath"]) for v in volumes["azureBlobFileSystems"]
    ] == [("data", "bfs")]
    assert volumes["azureFileShares"][0]["azureFileUrl"].endswith("/scripts")
    assert volumes["azureFileShares"][0]["relativeMountPath"] == "afs"
    assert KEY not in json.dumps(made)  # credentials are never returned

    no_key = invoke("cluster", "create", *here, *flags[:2], "--bfs-name", "data")
    assert no_key.exit_code == 2 and "--storage-account-key" in flat(no_key.output)
    nfs = invoke("cluster", "create", *here, *flags, "--nfs", "myfs")
    assert nfs.exit_code == 2 and "file servers are not supported" in flat(nfs.output)

    ok("experiment", "create", *here, "-n", "exp")
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"properties": {
        "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/out",
        "customToolkitSettings": {"commandLine": "ls $AZ_BATCHAI_JOB_MOUNT_ROOT/out"}}}))  # fmt: skip
    job = json.loads(
        ok("job", "create", *here, "-e", "exp", "-n", "j", "-c", "cpu", "-f", str(job_file),
           *account, "--bfs-name", "data", "--bfs-mount-path", "out")
    )  # fmt: skip
    assert job["mountVolumes"]["azureBlobFileSystems"][0]["relativeMountPath"] == "out"
    # Nor kept where the workspace's readers (run tokens included) see them: the keys are
    # sealed in the mounts' datastores only.
    assert KEY not in json.dumps(job)
    for path in ("/workspaces/bai-mounts/computes/cpu", "/workspaces/bai-mounts/runs/j"):
        assert KEY not in json.dumps(cli_server.call("GET", path)), path
