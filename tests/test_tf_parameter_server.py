"""TensorFlow parameter-server jobs on the local backend: real tf.distribute.Server tasks
started from TF_CONFIG, variables kept on /job:ps and updated by every worker."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests import test_clusters
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute
from trainforge.core.runconfig import TensorflowConfiguration
from trainforge.train.dnn import ParameterServer, TensorFlow

pytestmark = pytest.mark.slow
pytest.importorskip("tensorflow")
clusters = test_clusters.clusters  # the fixture: a test's clusters are deleted after it

# Each worker adds (index + 1) three times to a variable on ps 0 and counts itself done
# on the last ps; worker 0 logs the total once every worker is done.
TF_PS = """
    import json, os, sys, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from trainforge.core import Run

    config = json.loads(os.environ["TF_CONFIG"])
    task_type, index = config["task"]["type"], config["task"]["index"]
    names = ["TF_CONFIG", "AZ_BATCHAI_PS_HOSTS", "AZ_BATCHAI_WORKER_HOSTS", "AZ_BATCHAI_TASK_INDEX", "AZ_BATCHAI_TASK_TYPE"]
    print("ENV", json.dumps({name: os.environ[name] for name in names}), "PID", os.getpid(), flush=True)
    server = tf.distribute.Server(
        tf.train.ClusterSpec(config["cluster"]), job_name=task_type, task_index=index, protocol="grpc"
    )
    if task_type == "ps":
        server.join()
    if "--fail-worker" in sys.argv and sys.argv[-1] == str(index):
        raise ValueError(f"worker {index} gives up")
    tf.compat.v1.disable_eager_execution()
    workers = len(config["cluster"]["worker"])
    last_ps = len(config["cluster"]["ps"]) - 1
    with tf.compat.v1.device("/job:ps/task:0"):
        total = tf.compat.v1.get_variable("total", initializer=0.0, use_resource=True)
    with tf.compat.v1.device(f"/job:ps/task:{last_ps}"):
        done = tf.compat.v1.get_variable("done", initializer=0, use_resource=True)
    add, finish = total.assign_add(float(index + 1)), done.assign_add(1)
    session_config = tf.compat.v1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
    with tf.compat.v1.Session(server.target, config=session_config) as sess:
        if index == 0:
            sess.run([total.initializer, done.initializer])
        while not sess.run(tf.compat.v1.is_variable_initialized(done)):
            time.sleep(0.1)
        for _ in range(3):
            sess.run(add)
        sess.run(finish)
        while sess.run(done) < workers:
            time.sleep(0.1)
        if index == 0:
            Run.get_context().log("total", float(sess.run(total)))
"""


def tasks(run) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Each task's variables and pid, by log file name."""
    found = {}
    for name, text in run.get_details_with_logs()["logFiles"].items():
        for line in text.splitlines():
            if line.startswith("ENV "):
                env, _, pid = line[4:].partition(" PID ")
                found[name] = {**json.loads(env), "pid": int(pid)}
    return found


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


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


def parameter_server_jobs_over_two_nodes(
    experiment: Experiment, project: Path, cluster: AmlCompute
) -> list[dict[str, dict]]:
    """Two TF_PS jobs (the project's train.py) on a 2-node cluster, checked; each one's tasks."""
    # The 2022 notebook's form: node_count = worker_count = 2; node 0 runs ps 0 and
    # worker 0, node 1 runs worker 1.
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        compute_target=cluster,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1),
    )
    run = experiment.submit(config)
    assert run.wait_for_completion()["status"] == "Completed", run.get_details()
    assert run.get_metrics() == {"total": 9.0}
    definition = run.get_details()["runDefinition"]
    assert (definition["node_count"], definition["communicator"]) == (2, "ParameterServer")
    first = tasks(run)
    assert len(first) == 3

    # One worker, two parameter servers on two nodes: node 1 runs only ps 1, serves until
    # the worker on node 0 is done, and is stopped then.
    estimator = TensorFlow(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        distributed_training=ParameterServer(worker_count=1, parameter_server_count=2),
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed", run.get_details()
    assert run.get_metrics() == {"total": 3.0}
    found = tasks(run)
    assert (
        len(json.loads(found["azureml-logs/70_driver_log_ps_1.txt"]["TF_CONFIG"])["cluster"]["ps"])
        == 2
    )
    assert gone(found["azureml-logs/70_driver_log_ps_1.txt"]["pid"])
    assert gone(found["azureml-logs/70_driver_log_ps_0.txt"]["pid"])
    return [first, found]
