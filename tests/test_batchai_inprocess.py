"""Batch AI's models and client against the control plane in-process (no node processes):
the SDK's attribute names and JSON, the service's validation with errors naming the field,
bad jobs refused with nothing created, the ARM ids and shapes the client returns, and the
signed links' checks."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from trainforge.batchai import BatchAIManagementClient, CloudError, models
from trainforge.batchai.storage import BlockBlobService, FileService

RG = "rg-inprocess"
KEY = "c2VjcmV0LWtleQ=="


def one_node_cluster() -> models.ClusterCreateParameters:
    return models.ClusterCreateParameters(
        vm_size="STANDARD_D2_V2",
        scale_settings=models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=1)),
        user_account_settings=models.UserAccountSettings(
            admin_user_name="demo", admin_user_password="Dem0Pa$$w0rd"
        ),
    )


@pytest.fixture
def client(
    cli_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BatchAIManagementClient:
    monkeypatch.setenv("TRAINFORGE_BATCHAI_STORAGE_ROOT", str(tmp_path / "accounts"))
    made = BatchAIManagementClient(credentials=object(), subscription_id=str(uuid.uuid4()))
    made.workspaces.create(RG, "wsone", "eastus").result()
    made.clusters.create(RG, "wsone", "cpu", one_node_cluster()).result(timeout=30)
    made.experiments.create(RG, "wsone", "exp").result()
    return made


def custom_job(cluster_id: str, **extra: Any) -> models.JobCreateParameters:
    return models.JobCreateParameters(
        cluster=models.ResourceId(id=cluster_id),
        node_count=1,
        std_out_err_path_prefix="$AZ_BATCHAI_JOB_TEMP",
        custom_toolkit_settings=models.CustomToolkitSettings(command_line="echo hi"),
        **extra,
    )


def test_models_keep_the_sdk_names_and_the_service_json() -> None:
    job = models.JobCreateParameters(
        cluster=models.ResourceId(id="/x"),
        node_count=2,
        std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
        py_torch_settings=models.PyTorchSettings(
            python_script_file_path="train.py", communication_backend="gloo"
        ),
        constraints=models.JobBasePropertiesConstraints(max_wall_clock_time="1.02:00:00"),
    )
    body = job.serialize()
    assert body["nodeCount"] == 2 and body["stdOutErrPathPrefix"] == "$AZ_BATCHAI_MOUNT_ROOT/afs"
    assert body["pyTorchSettings"] == {
        "pythonScriptFilePath": "train.py",
        "communicationBackend": "gloo",
    }
    assert body["constraints"] == {"maxWallClockTime": "P1DT2H"}  # ISO 8601, as the SDK sends it
    assert job.as_dict()["py_torch_settings"]["python_script_file_path"] == "train.py"
    assert models.JobCreateParameters.deserialize(body) == job
    assert job.tool_type == "pytorch"
    for text in ("7.00:00:00", "P7D", "7 days, 0:00:00"):  # the three forms of reference 2.2
        constraints = models.JobBasePropertiesConstraints(max_wall_clock_time=text)
        assert constraints.max_wall_clock_time == timedelta(days=7)


def test_job_files_of_every_api_version_are_read() -> None:
    legacy = {
        "$schema": "https://example/2017-09-01-preview/job.json",
        "properties": {
            "nodeCount": 1,
            "priority": 100,
            "experimentName": "old",
            "toolType": "CNTK",
            "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/external",
            "outputDirectories": [
                {
                    "id": "MODEL",
                    "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/external",
                    "type": "model",
                    "createNew": True,
                }
            ],
            "cntkSettings": {"configFilePath": "$AZ_BATCHAI_INPUT_CONFIG/cfg.cntk"},
        },
    }
    job = models.JobCreateParameters.model_validate(legacy)
    assert job.scheduling_priority == "high"  # priority > 0
    assert job.output_directories[0].id == "MODEL" and job.tool_type == "cntk"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"stdOutErrPathPrefix": "x", "customToolkitSettings": {}}, "nodeCount"),
        (
            {
                "nodeCount": 1,
                "stdOutErrPathPrefix": "x",
                "customToolkitSettings": {},
                "nodeCont": 2,
            },
            "nodeCont",
        ),
        ({"nodeCount": 1, "stdOutErrPathPrefix": "x"}, "toolkit settings"),
        (
            {
                "nodeCount": 1,
                "stdOutErrPathPrefix": "x",
                "customToolkitSettings": {},
                "customMpiSettings": {"commandLine": "a"},
            },
            "customToolkitSettings, customMpiSettings",
        ),
        ({"nodeCount": 0, "stdOutErrPathPrefix": "x", "customToolkitSettings": {}}, "nodeCount"),
        (
            {
                "nodeCount": 1,
                "stdOutErrPathPrefix": "x",
                "customToolkitSettings": {},
                "outputDirectories": [
                    {"id": "A", "pathPrefix": "p"},
                    {"id": "A", "pathPrefix": "q"},
                ],
            },
            "outputDirectories",
        ),  # fmt: skip
    ],
)
def test_bad_job_files_name_the_field(body: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        models.JobCreateParameters.model_validate({"properties": body})
    assert named in str(refused.value)


def test_scale_settings_take_manual_xor_auto_scale() -> None:
    for bad in (
        {},
        {
            "manual": {"targetNodeCount": 1},
            "autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 1},
        },
    ):
        with pytest.raises(ValidationError, match="set exactly one of manual and autoScale"):
            models.ScaleSettings.model_validate(bad)
    with pytest.raises(ValidationError, match="maximumNodeCount"):
        models.AutoScaleSettings(minimum_node_count=3, maximum_node_count=1)


def test_the_client_speaks_batch_ai(client: BatchAIManagementClient) -> None:
    workspace = client.workspaces.get(RG, "wsone")
    assert workspace.id.endswith(
        f"/resourceGroups/{RG}/providers/Microsoft.BatchAI/workspaces/wsone"
    )
    assert workspace.provisioning_state == "succeeded" and workspace.location == "eastus"
    cluster = client.clusters.get(RG, "wsone", "cpu")
    assert cluster.id == f"{workspace.id}/clusters/cpu"
    assert cluster.scale_settings.manual.target_node_count == 1
    assert cluster.vm_priority == "dedicated" and cluster.allocation_state in ("steady", "resizing")
    assert cluster.user_account_settings.admin_user_password is None  # never returned
    assert [c.name for c in client.clusters.list_by_workspace(RG, "wsone")] == ["cpu"]
    updated = client.clusters.update(
        RG, "wsone", "cpu",
        scale_settings=models.ScaleSettings(auto_scale=models.AutoScaleSettings(minimum_node_count=0, maximum_node_count=3)),
    )  # fmt: skip
    assert (
        updated.scale_settings.auto_scale.minimum_node_count,
        updated.scale_settings.auto_scale.maximum_node_count,
    ) == (0, 3)
    assert client.experiments.get(RG, "wsone", "exp").id == f"{workspace.id}/experiments/exp"
    job = client.jobs.create(RG, "wsone", "exp", "job_1", custom_job(cluster.id)).result()
    assert job.id == f"{workspace.id}/experiments/exp/jobs/job_1"
    assert job.execution_state == "queued" and job.tool_type == "custom"
    assert job.job_output_directory_path_segment.startswith(
        f"{client.subscription_id}/{RG}/workspaces/wsone/experiments/exp/jobs/job_1/"
    )
    assert [j.name for j in client.jobs.list_by_experiment(RG, "wsone", "exp")] == ["job_1"]
    with pytest.raises(CloudError) as elsewhere:  # the workspace is in RG, not in another group
        client.workspaces.get("other-rg", "wsone")
    assert elsewhere.value.status_code == 404
    [usage] = client.usages.list("eastus")
    assert usage.name.value == "cores" and usage.limit == 3 * 2  # cpu: at most 3 nodes of 2 vCPUs
    # workspaces.update replaces the tags, and the Azure ML side sees them too.
    assert client.workspaces.update(RG, "wsone", tags={"team": "a"}).tags == {"team": "a"}
    assert client.workspaces.get(RG, "wsone").tags == {"team": "a"}
    assert client.workspaces.update(RG, "wsone", tags={"owner": "b"}).tags == {"owner": "b"}
    with pytest.raises(CloudError, match="tags"):
        client.workspaces.update(RG, "wsone", tags={"team": ["not", "a", "string"]})  # type: ignore[dict-item]


def test_bad_jobs_are_refused_and_nothing_is_made(
    client: BatchAIManagementClient, cli_server: Any
) -> None:
    cluster = client.clusters.get(RG, "wsone", "cpu")
    other = cluster.id.replace("/workspaces/wsone/", "/workspaces/wstwo/")
    missing_account = models.MountVolumes(
        azure_blob_file_systems=[
            models.AzureBlobFileSystemReference(
                account_name="nosuchaccount", container_name="data",
                credentials=models.AzureStorageCredentialsInfo(account_key=KEY), relative_mount_path="bfs",
            )
        ]
    )  # fmt: skip
    cases = [
        (custom_job(other), 404, "ResourceNotFound", "parameters.cluster.id"),
        (custom_job(cluster.id.replace("/cpu", "/nope")), 404, "ResourceNotFound", "parameters.cluster.id"),
        (custom_job(cluster.id, mount_volumes=missing_account), 400, "StorageAccountNotFound",
         "azureBlobFileSystems[0].accountName"),
        ({"properties": {"nodeCount": 1, "stdOutErrPathPrefix": "x", "customToolkitSettings": {}, "bogus": 1}},
         400, "InvalidRequestContent", "bogus"),
        ({"properties": {"stdOutErrPathPrefix": "x", "customToolkitSettings": {}}}, 400, "InvalidRequestContent", "nodeCount"),
    ]  # fmt: skip
    for body, status, code, named in cases:
        with pytest.raises(CloudError) as refused:
            client.jobs.create(RG, "wsone", "exp", "bad_job", body)
        assert (refused.value.status_code, refused.value.error) == (status, code), refused.value
        assert named in refused.value.message
    with pytest.raises(CloudError, match="job_name"):
        client.jobs.create(RG, "wsone", "exp", "bad name!", custom_job(cluster.id))
    with pytest.raises(CloudError) as no_experiment:
        client.jobs.create(RG, "wsone", "nope", "job_x", custom_job(cluster.id))
    assert no_experiment.value.status_code == 404
    assert list(client.jobs.list_by_experiment(RG, "wsone", "exp")) == []
    assert cli_server.call("GET", "/workspaces/wsone/runs")["runs"] == []
    with pytest.raises(CloudError) as both:
        client.clusters.create(
            RG, "wsone", "two", {"vmSize": "STANDARD_D2_V2", "userAccountSettings": {"adminUserName": "u"},
                                 "scaleSettings": {"manual": {"targetNodeCount": 1},
                                                   "autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 1}}},
        )  # fmt: skip
    assert both.value.status_code == 400 and "scaleSettings" in both.value.message
    assert [c.name for c in client.clusters.list_by_workspace(RG, "wsone")] == ["cpu"]
    with pytest.raises(CloudError, match="FileServersNotSupported|not supported"):
        client.file_servers.create(RG, "wsone", "nfs", {})


def test_output_files_are_signed_links(client: BatchAIManagementClient, cli_server: Any) -> None:
    cluster = client.clusters.get(RG, "wsone", "cpu")
    client.jobs.create(
        RG, "wsone", "exp", "with_files",
        custom_job(cluster.id, output_directories=[models.OutputDirectory(id="MODEL", path_prefix="$AZ_BATCHAI_JOB_TEMP")]),
    ).result()  # fmt: skip
    # What a node ships for the job: a log and an output file with a folder.
    cli_server.call(
        "PUT", "/workspaces/wsone/runs/with_files/files/stdouterr/stdout.txt", content=b"0123456789"
    )
    cli_server.call(
        "PUT", "/workspaces/wsone/runs/with_files/files/outputs/MODEL/ckpt/model.bin", content=b"m"
    )
    options = models.JobsListOutputFilesOptions(
        outputdirectoryid="stdouterr", linkexpiryinminutes=5
    )
    [log] = client.jobs.list_output_files(RG, "wsone", "exp", "with_files", options)
    assert (log.name, log.file_type, log.content_length) == ("stdout.txt", "file", 10)
    assert httpx.get(log.download_url).content == b"0123456789"
    ranged = httpx.get(log.download_url, headers={"Range": "bytes=4-"})
    assert (ranged.status_code, ranged.content) == (206, b"456789")
    assert httpx.get(log.download_url, headers={"Range": "bytes=10-"}).status_code == 416
    later = log.download_url.replace("se=", "se=9")  # a changed expiry breaks the signature
    assert httpx.get(later).status_code == 403
    [folder] = client.jobs.list_output_files(
        RG,
        "wsone",
        "exp",
        "with_files",
        models.JobsListOutputFilesOptions(outputdirectoryid="MODEL"),
    )
    assert (folder.name, folder.file_type, folder.download_url) == ("ckpt", "directory", None)
    [model] = client.jobs.list_output_files(
        RG, "wsone", "exp", "with_files",
        models.JobsListOutputFilesOptions(outputdirectoryid="MODEL", directory="ckpt"),
    )  # fmt: skip
    assert model.name == "model.bin" and httpx.get(model.download_url).content == b"m"
    with pytest.raises(CloudError, match="outputdirectoryid"):
        list(client.jobs.list_output_files(
            RG, "wsone", "exp", "with_files", models.JobsListOutputFilesOptions(outputdirectoryid="NOPE")
        ))  # fmt: skip
    with pytest.raises(ValidationError, match="linkexpiryinminutes"):
        models.JobsListOutputFilesOptions(outputdirectoryid="stdouterr", linkexpiryinminutes=601)


def test_storage_clients_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINFORGE_BATCHAI_STORAGE_ROOT", str(tmp_path / "accounts"))
    blobs = BlockBlobService("myaccount", KEY)
    assert blobs.create_container("data") is True
    assert blobs.create_container("data", fail_on_exist=False) is False
    blobs.create_blob_from_text("data", "a/b.txt", "hello")
    source = tmp_path / "local.bin"
    source.write_bytes(b"\x00\x01")
    blobs.create_blob_from_path("data", "c.bin", str(source))
    assert [(b.name, b.properties.content_length) for b in blobs.list_blobs("data")] == [
        ("a/b.txt", 5),
        ("c.bin", 2),
    ]
    assert [b.name for b in blobs.list_blobs("data", prefix="a/")] == ["a/b.txt"]
    assert blobs.get_blob_to_text("data", "a/b.txt").content == "hello"
    with pytest.raises(Exception, match="does not exist"):
        blobs.get_blob_to_text("data", "missing")
    with pytest.raises(Exception, match="authenticate"):
        BlockBlobService("myaccount", "another-key")
    shares = FileService("myaccount", KEY)
    shares.create_share("share")
    shares.create_directory("share", "scripts")
    shares.create_file_from_text("share", "scripts", "train.py", "print(1)")
    assert [e.name for e in shares.list_directories_and_files("share")] == ["scripts"]
    assert shares.get_file_to_text("share", "scripts", "train.py").content == "print(1)"
    assert json.loads(
        json.dumps([e.name for e in shares.list_directories_and_files("share", "scripts")])
    ) == ["train.py"]


def test_a_team_server_takes_the_token_of_the_credentials(
    cli_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.inprocess import TOKEN

    address = __import__("os").environ["TRAINFORGE_ENDPOINT"]
    monkeypatch.delenv("TRAINFORGE_TOKEN")  # only the credentials carry it
    monkeypatch.delenv("TRAINFORGE_ENDPOINT")

    class Credentials:  # msrest's BasicTokenAuthentication shape
        token = {"access_token": TOKEN}

    team = BatchAIManagementClient(Credentials(), str(uuid.uuid4()), base_url=address)
    assert team.workspaces.create(RG, "teamws", "eastus").result().name == "teamws"
    wrong = BatchAIManagementClient("not-the-token", str(uuid.uuid4()), base_url=address)
    with pytest.raises(Exception, match="not valid"):
        wrong.workspaces.get(RG, "teamws")


def test_a_deleted_job_frees_its_name_and_an_experiment_goes_with_its_jobs(
    client: BatchAIManagementClient,
) -> None:
    cluster = client.clusters.get(RG, "wsone", "cpu")
    client.jobs.create(RG, "wsone", "exp", "again", custom_job(cluster.id)).result()
    with pytest.raises(CloudError) as taken:
        client.jobs.create(RG, "wsone", "exp", "again", custom_job(cluster.id))
    assert taken.value.status_code == 409
    client.jobs.delete(RG, "wsone", "exp", "again").result(timeout=30)
    with pytest.raises(CloudError) as gone:
        client.jobs.get(RG, "wsone", "exp", "again")
    assert gone.value.status_code == 404
    job = client.jobs.create(RG, "wsone", "exp", "again", custom_job(cluster.id)).result()
    assert job.execution_state == "queued"

    client.experiments.delete(RG, "wsone", "exp").result(timeout=30)
    assert [e.name for e in client.experiments.list_by_workspace(RG, "wsone")] == []
    with pytest.raises(CloudError) as no_experiment:
        client.jobs.get(RG, "wsone", "exp", "again")
    assert no_experiment.value.status_code == 404


def test_two_workspaces_take_the_same_job_name(client: BatchAIManagementClient) -> None:
    client.workspaces.create(RG, "wstwo", "eastus").result()
    client.clusters.create(RG, "wstwo", "cpu", one_node_cluster()).result(timeout=30)
    client.experiments.create(RG, "wstwo", "exp").result()
    for ws in ("wsone", "wstwo"):
        cluster_id = client.clusters.get(RG, ws, "cpu").id
        job = client.jobs.create(RG, ws, "exp", "quick", custom_job(cluster_id)).result()
        assert job.id.endswith(f"/workspaces/{ws}/experiments/exp/jobs/quick")
