"""The distributed sample jobs (PyTorch DDP, MPI allreduce, TensorFlow parameter servers),
what their logs tell about each process, and the two-node cases the local backend and the
Ray backend both run."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from tests.helpers import running, wait_until
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute
from trainforge.core.runconfig import TensorflowConfiguration
from trainforge.train.dnn import ParameterServer, TensorFlow
from trainforge.train.estimator import Estimator, Mpi

DDP = """
    import gc, json, os
    import torch
    import torch.distributed as dist
    from trainforge.core import Run

    run = Run.get_context()
    dist.init_process_group("gloo")  # env:// : MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank = dist.get_rank()
    torch.manual_seed(rank)  # every rank starts different; DDP makes them agree
    model = torch.nn.Linear(4, 1)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    for step in range(5):
        x = torch.randn(8, 4)
        loss = ((ddp(x) - x.sum(1, keepdim=True)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "AZ_BATCHAI_PYTORCH_INIT_METHOD", "AZ_BATCHAI_TASK_INDEX"]
    print("ENV", json.dumps({name: os.environ[name] for name in names}))
    if rank == 0:
        run.log("identical", all(torch.equal(gathered[0], g) for g in gathered))
        run.log("world", dist.get_world_size())
    del ddp, optimizer, loss  # before the teardown: see examples/quickstart/train.py
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()
"""


def envs(run) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    logs = run.get_details_with_logs()["logFiles"]
    found = []
    for text in logs.values():
        found += [json.loads(line[4:]) for line in text.splitlines() if line.startswith("ENV ")]
    return sorted(found, key=lambda env: int(env["RANK"]))


ALLREDUCE = """
    import json, os, sys, time
    from mpi4py import MPI
    from trainforge.core import Run

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    total = comm.allreduce(rank + 1)
    names = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "OMPI_COMM_WORLD_RANK",
             "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "AZ_BATCHAI_TASK_INDEX"]
    values = {name: os.environ.get(name) for name in names}
    print("ENV", json.dumps({**values, "pid": os.getpid()}), "ARGS", sys.argv[1:], flush=True)
    if rank == 0:
        run = Run.get_context()
        run.log("sum", total)
        run.log("size", comm.Get_size())
    if "--fail-rank" in sys.argv and str(rank) == sys.argv[-1]:
        raise RuntimeError(f"rank {rank} gives up")
    if "--sleep" in sys.argv:
        time.sleep(600)
"""


def rank_envs(run) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for name, text in run.get_details_with_logs()["logFiles"].items():
        for line in text.splitlines():
            if line.startswith("ENV "):
                env_part, _, args = line[4:].partition(" ARGS ")
                found.append({**json.loads(env_part), "log": name, "args": args})
    return sorted(found, key=lambda env: int(env["RANK"]))


def both_ranks_up(run) -> list[int] | None:  # type: ignore[no-untyped-def]
    """The two ranks' pids once both printed their ENV line; fails at once, with the run's
    details, when the run ended before (a 180 s wait would only hide why)."""
    envs = rank_envs(run)
    if len(envs) == 2:
        return [int(env["pid"]) for env in envs]
    status = run.get_status()
    assert status not in ("Completed", "Failed", "Canceled"), run.get_details_with_logs()
    return None


def mpi_jobs_over_two_nodes(
    experiment: Experiment, project: Path, cluster: AmlCompute
) -> list[dict[str, str]]:
    """ALLREDUCE (the project's train.py) over a 2-node cluster: a job, a failing rank and a
    cancel, checked; the first job's ranks."""
    estimator = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        distributed_training=Mpi(process_count_per_node=1),
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed", run.get_details()
    assert run.get_metrics() == {"sum": 3, "size": 2}
    envs = rank_envs(run)
    assert [(e["RANK"], e["NODE_RANK"], e["AZ_BATCHAI_TASK_INDEX"]) for e in envs] == [
        ("0", "0", "0"),
        ("1", "1", "1"),
    ]
    ranks = envs

    # A rank failing on the second node: its traceback travels through mpirun's output.
    failing = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        script_params={"--fail-rank": 1},
        node_count=2,
        distributed_training=Mpi(),
    )
    details = experiment.submit(failing).wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "(rank 1)" in message and "RuntimeError: rank 1 gives up" in message

    # Canceling stops the ranks on both nodes, the second node's daemon included.
    sleeping = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        script_params={"--sleep": ""},
        node_count=2,
        distributed_training=Mpi(),
    )
    run = experiment.submit(sleeping)
    try:
        pids = wait_until(lambda: both_ranks_up(run), 180, "both ranks of the sleeping job")
    except AssertionError as timeout:
        logs = run.get_details_with_logs()["logFiles"]
        tails = {name: text[-2000:] for name, text in logs.items()}
        raise AssertionError(f"{timeout}: run {run.get_status()}, logs {tails}") from None
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    for pid in pids:
        wait_until(lambda p=pid: not psutil.pid_exists(p), 15, f"rank pid {pid} gone")
    return ranks


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
        # Give up once worker 0 listens (it printed its ENV line before), so the test can
        # check that the failure stopped it: under load it may start seconds later.
        import socket
        host, port = config["cluster"]["worker"][0].rsplit(":", 1)
        while index != 0:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
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
    """Whether ``pid`` exits within 10 s (an AssertionError naming it if not)."""
    return wait_until(lambda: not running(pid), 10, f"pid {pid} gone")


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
