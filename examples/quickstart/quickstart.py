"""trainforge quickstart: the seed's Azure ML SDK v1 flow on this machine.

Workspace -> compute cluster (the seed's arguments) -> data set uploaded to the default
datastore -> a 2-node distributed PyTorch run on the cluster reading it through
``as_mount()`` -> live log -> metrics and files -> cluster update and delete. The first
call starts the trainforge control plane in the background (like ``ray.init()``); the
cluster's nodes are node-agent processes; ``trainforge down`` stops the control plane.
"""

from pathlib import Path

import numpy as np

from trainforge.core import Environment, Experiment, Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.compute_target import ComputeTargetException
from trainforge.train.dnn import PyTorch

HERE = Path(__file__).resolve().parent

ws = Workspace.create(
    name="quickstart",
    subscription_id="00000000-0000-0000-0000-000000000000",
    resource_group="quickstart-rg",
    location="local",
    create_resource_group=True,
    exist_ok=True,
)
ws.write_config(path=str(HERE))
ws = Workspace.from_config(path=str(HERE))
print(
    "Workspace name: " + ws.name,
    "Azure region: " + ws.location,
    "Subscription id: " + ws.subscription_id,
    "Resource group: " + ws.resource_group,
    sep="\n",
)

gpu_cluster_name = "nc6"
try:
    gpu_cluster = ComputeTarget(workspace=ws, name=gpu_cluster_name)
    print("Found existing cluster, use it.")
except ComputeTargetException:
    compute_config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_NC6",
        vm_priority="lowpriority",
        min_nodes=1,
        max_nodes=2,
        idle_seconds_before_scaledown="300",
        vnet_resourcegroup_name="<my-resource-group>",
        vnet_name="<my-vnet-name>",
        subnet_name="<my-subnet-name>",
    )
    gpu_cluster = ComputeTarget.create(ws, gpu_cluster_name, compute_config)
gpu_cluster.wait_for_completion(show_output=True)
print(gpu_cluster.get_status().serialize())

# The data set: generated here (no internet needed), uploaded as in the seed.
ds = ws.get_default_datastore()
print(ds.datastore_type, ds.account_name, ds.container_name)
(HERE / "data").mkdir(exist_ok=True)
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, 2000)
np.savez(HERE / "data" / "points.npz", x=x, y=3.0 * x + 0.5 + rng.normal(0, 0.05, x.size))
ds.upload(
    src_dir=str(HERE / "data"), target_path="linear_dataset", overwrite=True, show_progress=True
)
path_on_datastore = (
    " linear_dataset/points.npz"  # the seed's stray space is forgiven, with a warning
)
ds_data = ds.path(path_on_datastore)
print(ds_data)

experiment = Experiment(ws, name="quickstart-linear-regression")
env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
script_params = {
    "--input_data": ds_data.as_mount(),
    "--epochs": 100,
    "--learning-rate": 0.5,
}
estimator = PyTorch(
    source_directory=str(HERE),
    compute_target=gpu_cluster,
    script_params=script_params,
    entry_script="train.py",
    node_count=2,
    distributed_backend="gloo",
    environment_definition=env,
)
run = experiment.submit(estimator, tags={"example": "quickstart"})
print(run)
run.wait_for_completion(show_output=True)

metrics = run.get_metrics()
print("final loss:", metrics["loss"][-1], " w:", metrics["w"], " b:", metrics["b"])
print("files:", run.get_file_names())
run.download_file("outputs/model.json", output_file_path=str(HERE / "model.json"))
print("model downloaded to", HERE / "model.json")

# Clusters can change size while they live, and be deleted when done.
gpu_cluster.update(min_nodes=0, max_nodes=4, idle_seconds_before_scaledown=600)
gpu_cluster.delete()
gpu_cluster.wait_for_completion(show_output=True, is_delete_operation=True)
