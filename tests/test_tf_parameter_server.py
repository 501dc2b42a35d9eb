"""TensorFlow parameter-server jobs on the local backend: real tf.distribute.Server tasks
started from TF_CONFIG, variables kept on /job:ps and updated by every worker."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.distributed_jobs import TF_PS, gone, parameter_server_jobs_over_two_nodes, tasks
from trainforge.core import Experiment
from trainforge.train.dnn import TensorFlow

pytestmark = pytest.mark.slow
pytest.importorskip("tensorflow")


def test_parameter_server_job_on_one_node(experiment: Experiment, project: Path) -> None:
    (project / "train.py").write_text(textwrap.dedent(TF_PS))
    estimator = TensorFlow(
        str(project),
        entry_script="train.py",
        node_count=1,
        worker_count=2,
        parameter_server_count=1,
        distributed_backend="ps",
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed", run.get_details()
    assert run.get_metrics() == {"total": 9.0}  # 3 x (1 + 2), kept on the parameter server
    found = tasks(run)
    assert sorted(found) == [
        "azureml-logs/70_driver_log_ps_0.txt",
        "azureml-logs/70_driver_log_worker_0.txt",
        "azureml-logs/70_driver_log_worker_1.txt",
    ]
    worker_1 = found["azureml-logs/70_driver_log_worker_1.txt"]
    tf_config = json.loads(worker_1["TF_CONFIG"])
    cluster = tf_config["cluster"]
    assert tf_config["task"] == {"type": "worker", "index": 1}
    assert tf_config["environment"] == "cloud"
    assert sorted(cluster) == ["ps", "worker"] and len(cluster["worker"]) == 2
    addresses = cluster["ps"] + cluster["worker"]
    assert len(set(addresses)) == 3  # nodes share the host: every task has its own port
    assert worker_1["AZ_BATCHAI_PS_HOSTS"] == ",".join(cluster["ps"])
    assert worker_1["AZ_BATCHAI_WORKER_HOSTS"] == ",".join(cluster["worker"])
    assert (worker_1["AZ_BATCHAI_TASK_INDEX"], worker_1["AZ_BATCHAI_TASK_TYPE"]) == ("1", "worker")
    ps = found["azureml-logs/70_driver_log_ps_0.txt"]
    assert json.loads(ps["TF_CONFIG"]) == {**tf_config, "task": {"type": "ps", "index": 0}}
    assert gone(ps["pid"])  # the parameter server blocked in join(): it was stopped


def test_failing_worker_fails_the_run_and_stops_the_parameter_server(
    experiment: Experiment, project: Path
) -> None:
    (project / "train.py").write_text(textwrap.dedent(TF_PS))
    estimator = TensorFlow(
        str(project),
        entry_script="train.py",
        script_params={"--fail-worker": 1},
        worker_count=2,
        distributed_backend="ps",
    )
    run = experiment.submit(estimator)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "(worker 1 on node local)" in message
    assert "ValueError: worker 1 gives up" in message
    assert "70_driver_log_worker_1.txt" in message
    found = tasks(run)
    assert gone(found["azureml-logs/70_driver_log_ps_0.txt"]["pid"])
    assert gone(found["azureml-logs/70_driver_log_worker_0.txt"]["pid"])


def test_parameter_server_jobs_over_two_nodes(
    ws, clusters, experiment: Experiment, project: Path
) -> None:  # type: ignore[no-untyped-def]
    (project / "train.py").write_text(textwrap.dedent(TF_PS))
    parameter_server_jobs_over_two_nodes(experiment, project, clusters(min_nodes=2, max_nodes=2))
