"""The same sweep in Python: `trainforge sweep submit examples/hyperdrive/sweep.py --wait`
from the repository root, or run it with python (it then submits and waits itself)."""

from pathlib import Path

from trainforge.core import Experiment, ScriptRunConfig, Workspace
from trainforge.train.hyperdrive import (
    BanditPolicy,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)

hd_config = HyperDriveConfig(
    run_config=ScriptRunConfig(
        source_directory=str(Path(__file__).parent), script="train.py", arguments=["--epochs", 8]
    ),
    hyperparameter_sampling=RandomParameterSampling(
        {"learning_rate": loguniform(-9, -1), "--batch-size": choice(16, 32, 64)},
        properties={"rngSeed": 7},
    ),
    policy=BanditPolicy(slack_factor=0.15, evaluation_interval=1, delay_evaluation=3),
    primary_metric_name="accuracy",
    primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
    max_total_runs=12,
    max_concurrent_runs=3,
    max_duration_minutes=30,
)

if __name__ == "__main__":
    ws = Workspace.create("hyperdrive-demo", exist_ok=True)
    hd_run = Experiment(ws, "hyperdrive-example").submit(hd_config)
    hd_run.wait_for_completion(show_output=True)
    best = hd_run.get_best_run_by_primary_metric()
    print("best run:", best.id, hd_run.get_hyperparameters()[best.id])
    for child in hd_run.get_children_sorted_by_primary_metric(top=3):
        print(child)
