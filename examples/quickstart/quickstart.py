"""trainforge quickstart: the Azure ML SDK v1 run loop on this machine.

Workspace -> experiment -> script run on the local target -> live log -> metrics and
files. The first call starts the trainforge control plane in the background (like
``ray.init()``); ``trainforge down`` stops it.
"""

from pathlib import Path

from trainforge.core import Environment, Experiment, ScriptRunConfig, Workspace

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
print("Workspace name: " + ws.name, "Azure region: " + ws.location, "Subscription id: " + ws.subscription_id, "Resource group: " + ws.resource_group, sep="\n")

experiment = Experiment(ws, name="quickstart-linear-regression")
env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
config = ScriptRunConfig(
    source_directory=str(HERE),
    script="train.py",
    arguments=["--epochs", 20, "--learning-rate", 0.05],
    compute_target="local",
    environment=env,
)
run = experiment.submit(config, tags={"example": "quickstart"})
print(run)
run.wait_for_completion(show_output=True)

metrics = run.get_metrics()
print("final loss:", metrics["loss"][-1], " w:", metrics["w"], " b:", metrics["b"])
print("files:", run.get_file_names())
run.download_file("outputs/model.json", output_file_path=str(HERE / "model.json"))
print("model downloaded to", HERE / "model.json")
