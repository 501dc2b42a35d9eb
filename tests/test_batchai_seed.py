"""The migration guide's Batch AI half, end to end: every Batch AI call of
seed/000_8979ac45ffd7e953.txt in its order, unchanged but for the imports
(``azure.mgmt.batchai`` -> ``trainforge.batchai``, ``utilities`` ->
``trainforge.batchai.utilities``, ``BlockBlobService`` -> ``trainforge.batchai.storage``).

What the guide leaves to the recipe is given here: configuration.json, the training
script the job runs (mnist_replica.py's flags; a script of our own for TensorFlow 2), the
MNIST files (fake, offline) and the Azure file share the job mounts (``azure_file_share_name``,
made with FileService as the recipe makes it). The job then runs for real: a 2-node
cluster of node agents, one parameter server and two workers of tensorflow-cpu.
"""

# The seed's own str.format calls stay as it writes them.
# ruff: noqa: UP030, UP032
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.batchai_jobs import TF_REPLICA, write_configuration, write_fake_mnist
from tests.storage_services import Azurite, azurite

pytestmark = pytest.mark.slow
pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def azurite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture(params=["embedded", "azurite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the seed's storage account lives: a local folder (the embedded default) or
    Azurite's blob service."""
    if request.param == "azurite":
        azurite: Azurite = request.getfixturevalue("azurite_service")
        monkeypatch.setenv(
            "TRAINFORGE_BATCHAI_STORAGE_ENDPOINT", f"http://127.0.0.1:{azurite.port}"
        )
    else:
        monkeypatch.setenv("TRAINFORGE_BATCHAI_STORAGE_ROOT", str(tmp_path / "accounts"))
    return str(request.param)


# The seed's TensorFlow job is 10,000 real training steps (a worker-to-ps RPC each): about
# 35 s on an idle 2-core machine, and over 250 s when the other xdist worker's tests load
# both cores (seen in a full run), so the default 300 s is too tight.
@pytest.mark.timeout(900)
def test_seed_batchai_half(tf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from tests.storage_services import AZURITE_ACCOUNT, AZURITE_KEY

    notebook = tmp_path / "recipes" / "TensorFlow-GPU-Distributed"
    notebook.mkdir(parents=True)
    monkeypatch.chdir(notebook)
    suffix = os.urandom(3).hex()
    write_configuration(tmp_path / "configuration.json", f"bai-{storage}-{suffix}", "batchai-rg")
    if storage == "azurite":  # Azurite serves one account, its well-known one
        import json

        conf = json.loads((tmp_path / "configuration.json").read_text())
        conf["storage_account"] = {"name": AZURITE_ACCOUNT, "key": AZURITE_KEY}
        (tmp_path / "configuration.json").write_text(json.dumps(conf))
    (notebook / "mnist_replica.py").write_text(TF_REPLICA)
    write_fake_mnist(notebook)  # no internet: the helper takes the local files
    monkeypatch.syspath_prepend(str(notebook))

    # The seed's text as it is written (its quotes and indentation), but for the imports.
    # fmt: off
    # --- the seed: "Criar workspaces" ------------------------------------------------------
    sys.path.append('../../..')
    import trainforge.batchai.utilities as utils

    cfg = utils.config.Configuration('../../configuration.json')
    client = utils.config.create_batchai_client(cfg)

    utils.config.create_resource_group(cfg)
    _ = client.workspaces.create(cfg.resource_group, cfg.workspace, cfg.location).result()

    # --- "Criar clusters de cálculo" -----------------------------------------------------
    import trainforge.batchai.models as models

    nodes_count = 2
    cluster_name = 'nc6'

    parameters = models.ClusterCreateParameters(
        vm_size='STANDARD_NC6',
        scale_settings=models.ScaleSettings(
            manual=models.ManualScaleSettings(target_node_count=nodes_count)
        ),
        user_account_settings=models.UserAccountSettings(
            admin_user_name=cfg.admin,
            admin_user_password=cfg.admin_password or None,
            admin_user_ssh_public_key=cfg.admin_ssh_key or None,
        )
    )
    _ = client.clusters.create(cfg.resource_group, cfg.workspace, cluster_name, parameters).result()

    # --- "Monitorar o status do cluster" -----------------------------------------------------
    cluster = client.clusters.get(cfg.resource_group, cfg.workspace, cluster_name)
    utils.cluster.print_cluster_status(cluster)

    # --- "Obtenha uma referência para uma conta de armazenamento" ------------------------------
    from trainforge.batchai.storage import BlockBlobService

    azure_blob_container_name = 'batchaisample'
    blob_service = BlockBlobService(cfg.storage_account_name, cfg.storage_account_key)
    blob_service.create_container(azure_blob_container_name, fail_on_exist=False)

    # The recipe's file share, which the guide's job mounts (it is made in the recipe).
    from trainforge.batchai.storage import FileService

    azure_file_share_name = 'batchaishare'
    file_service = FileService(cfg.storage_account_name, cfg.storage_account_key)
    file_service.create_share(azure_file_share_name, fail_on_exist=False)

    # --- "Baixar e carregar dados" -------------------------------------------------------------
    mnist_dataset_directory = 'mnist_dataset'
    utils.dataset.download_and_upload_mnist_dataset_to_blob(
        blob_service, azure_blob_container_name, mnist_dataset_directory)

    script_directory = 'tensorflow_samples'
    script_to_deploy = 'mnist_replica.py'

    blob_service.create_blob_from_path(azure_blob_container_name,
                                       script_directory + '/' + script_to_deploy,
                                       script_to_deploy)

    # --- "Criar experimentos" ------------------------------------------------------------------
    experiment_name = 'tensorflow_experiment'
    experiment = client.experiments.create(cfg.resource_group, cfg.workspace, experiment_name).result()

    # --- "Enviar trabalhos" --------------------------------------------------------------------
    azure_file_share = 'afs'
    azure_blob = 'bfs'
    args_fmt = '--job_name={0} --num_gpus=1 --train_steps 10000 --checkpoint_dir=$AZ_BATCHAI_OUTPUT_MODEL --log_dir=$AZ_BATCHAI_OUTPUT_TENSORBOARD --data_dir=$AZ_BATCHAI_INPUT_DATASET --ps_hosts=$AZ_BATCHAI_PS_HOSTS --worker_hosts=$AZ_BATCHAI_WORKER_HOSTS --task_index=$AZ_BATCHAI_TASK_INDEX'

    parameters = models.JobCreateParameters(
         cluster=models.ResourceId(id=cluster.id),
         node_count=2,
         input_directories=[
            models.InputDirectory(
                id='SCRIPT',
                path='$AZ_BATCHAI_JOB_MOUNT_ROOT/{0}/{1}'.format(azure_blob, script_directory)),
            models.InputDirectory(
                id='DATASET',
                path='$AZ_BATCHAI_JOB_MOUNT_ROOT/{0}/{1}'.format(azure_blob, mnist_dataset_directory))],
         std_out_err_path_prefix='$AZ_BATCHAI_JOB_MOUNT_ROOT/{0}'.format(azure_file_share),
         output_directories=[
            models.OutputDirectory(
                id='MODEL',
                path_prefix='$AZ_BATCHAI_JOB_MOUNT_ROOT/{0}'.format(azure_file_share),
                path_suffix='Models'),
            models.OutputDirectory(
                id='TENSORBOARD',
                path_prefix='$AZ_BATCHAI_JOB_MOUNT_ROOT/{0}'.format(azure_file_share),
                path_suffix='Logs')
         ],
         mount_volumes=models.MountVolumes(
                azure_file_shares=[
                    models.AzureFileShareReference(
                        account_name=cfg.storage_account_name,
                        credentials=models.AzureStorageCredentialsInfo(
                            account_key=cfg.storage_account_key),
                        azure_file_url='https://{0}.file.core.windows.net/{1}'.format(
                            cfg.storage_account_name, azure_file_share_name),
                        relative_mount_path=azure_file_share)
                ],
                azure_blob_file_systems=[
                    models.AzureBlobFileSystemReference(
                        account_name=cfg.storage_account_name,
                        credentials=models.AzureStorageCredentialsInfo(
                            account_key=cfg.storage_account_key),
                        container_name=azure_blob_container_name,
                        relative_mount_path=azure_blob)
                ]
            ),
         container_settings=models.ContainerSettings(
             image_source_registry=models.ImageSourceRegistry(image='tensorflow/tensorflow:1.8.0-gpu')),
         tensor_flow_settings=models.TensorFlowSettings(
             parameter_server_count=1,
             worker_count=nodes_count,
             python_script_file_path='$AZ_BATCHAI_INPUT_SCRIPT/'+ script_to_deploy,
             master_command_line_args=args_fmt.format('worker'),
             worker_command_line_args=args_fmt.format('worker'),
             parameter_server_command_line_args=args_fmt.format('ps'),
         )
    )

    job_name = datetime.utcnow().strftime('tf_%m_%d_%Y_%H%M%S')
    job = client.jobs.create(cfg.resource_group, cfg.workspace, experiment_name, job_name, parameters).result()
    print('Created Job {0} in Experiment {1}'.format(job.name, experiment.name))

    # --- "Monitorar execuções" -----------------------------------------------------------------
    utils.job.wait_for_job_completion(client, cfg.resource_group, cfg.workspace,
                                      experiment_name, job_name, cluster_name, 'stdouterr', 'stdout-wk-0.txt')

    files = client.jobs.list_output_files(cfg.resource_group, cfg.workspace, experiment_name, job_name,
                                          models.JobsListOutputFilesOptions(outputdirectoryid='stdouterr'))
    for f in list(files):
        print(f.name, f.download_url or 'directory')

    # fmt: on
    # What a user checks: the job's end, its logs, its outputs, and a download by URL.
    printed = capsys.readouterr().out
    job = client.jobs.get(cfg.resource_group, cfg.workspace, experiment_name, job_name)
    details = job.execution_info
    assert job.execution_state == "succeeded", (details, printed[-6000:])
    assert details.exit_code == 0 and details.errors is None
    assert job.tool_type == "tensorflow"
    assert job.id.endswith(f"/experiments/{experiment_name}/jobs/{job_name}")
    assert "Worker 0: training step 500 done" in printed  # streamed from stdout-wk-0.txt
    assert "validation cross entropy" in printed
    listed = {
        f.name: f
        for f in client.jobs.list_output_files(
            cfg.resource_group,
            cfg.workspace,
            experiment_name,
            job_name,
            models.JobsListOutputFilesOptions(outputdirectoryid="stdouterr"),
        )
    }
    for name in (
        "stdout-wk-0.txt",
        "stderr-wk-0.txt",
        "stdout-wk-1.txt",
        "stderr-wk-1.txt",
        "stdout-ps-0.txt",
        "stderr-ps-0.txt",
    ):
        assert name in listed, sorted(listed)
        assert listed[name].file_type == "file" and listed[name].last_modified is not None
    worker_0 = listed["stdout-wk-0.txt"]
    whole = httpx.get(worker_0.download_url)  # a plain GET: the URL carries its signature
    assert whole.status_code == 200 and len(whole.content) == worker_0.content_length
    assert "validation cross entropy" in whole.text
    tail = httpx.get(worker_0.download_url, headers={"Range": "bytes=10-"})
    assert tail.status_code == 206 and tail.content == whole.content[10:]
    assert httpx.get(worker_0.download_url.replace("stdout-wk-0", "stdout-wk-1")).status_code == 403
    models_dir = list(
        client.jobs.list_output_files(
            cfg.resource_group,
            cfg.workspace,
            experiment_name,
            job_name,
            models.JobsListOutputFilesOptions(outputdirectoryid="MODEL"),
        )
    )
    assert any(f.name.startswith("model.ckpt") for f in models_dir), models_dir
    logs_dir = list(
        client.jobs.list_output_files(
            cfg.resource_group,
            cfg.workspace,
            experiment_name,
            job_name,
            models.JobsListOutputFilesOptions(outputdirectoryid="TENSORBOARD"),
        )
    )
    assert any("tfevents" in f.name for f in logs_dir), logs_dir
    # The outputs are on the mounted file share too, at Batch AI's layout (reference 4.1).
    segment = job.job_output_directory_path_segment
    share = [
        e.name
        for e in file_service.list_directories_and_files(
            azure_file_share_name, f"{segment}/outputs/Models"
        )
    ]
    assert any(name.startswith("model.ckpt") for name in share), share
    # The job is an Azure ML run as well.
    from trainforge.core import Experiment, Run, Workspace

    run = Run(
        Experiment(
            Workspace.get(cfg.workspace, resource_group=cfg.resource_group), experiment_name
        ),
        job_name,
    )
    assert run.get_status() == "Completed"

    # --- "Editar clusters" ---------------------------------------------------------------------
    # fmt: off
    _ = client.clusters.delete(cfg.resource_group, cfg.workspace, cluster_name)
    # fmt: on
    _.result(timeout=120)
    with pytest.raises(models_error()) as refused:
        client.clusters.get(cfg.resource_group, cfg.workspace, cluster_name)
    assert refused.value.status_code == 404


def models_error() -> type[Exception]:
    from trainforge.batchai import CloudError

    return CloudError
