"""AmlCompute clusters on the local backend, with real node-agent processes."""

from __future__ import annotations

import os
import signal
import time
import uuid

import psutil
import pytest

from tests.clusters import (
    agent_pids,
    cluster_gone,
    counts,
    heartbeats,
    make_cluster,
    raw_nodes,
    script,
    submit,
)
from tests.helpers import attempt_of, wait_until
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.compute_target import ComputeTargetException
from trainforge.core.run import info_of

pytestmark = pytest.mark.slow


def test_the_seed_creates_a_cluster_and_reports_its_status(ws) -> None:  # type: ignore[no-untyped-def]
    name = f"nc6-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ComputeTargetException, match=f"Compute Target with name {name} not found"):
        ComputeTarget(workspace=ws, name=name)
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_NC6",
        vm_priority="lowpriority",
        min_nodes=1,
        max_nodes=2,
        idle_seconds_before_scaledown="300",
        vnet_resourcegroup_name="<my-resource-group>",
        vnet_name="<my-vnet-name>",
        subnet_name="<my-subnet-name>",
    )
    cluster = ComputeTarget.create(ws, name, config)
    try:
        cluster.wait_for_completion(show_output=True)
        assert counts(cluster)["current"] == 1
        status = cluster.get_status().serialize()
        assert status["scaleSettings"] == {
            "minNodeCount": 1,
            "maxNodeCount": 2,
            "nodeIdleTimeBeforeScaleDown": "PT300S",
        }
        assert status["vmPriority"] == "LowPriority" and status["vmSize"] == "STANDARD_NC6"
        assert status["provisioningState"] == "Succeeded" and status["allocationState"] == "Steady"
        assert isinstance(ComputeTarget(workspace=ws, name=name), AmlCompute)
        assert name in ws.compute_targets
        (node,) = cluster.list_nodes()
        assert node["nodeState"] == "idle" and node["privateIpAddress"] == "127.0.0.1"
        sizes = {size["name"]: size for size in AmlCompute.supported_vmsizes(ws)}
        assert sizes["STANDARD_NC6"]["vCPUs"] == 6 and sizes["STANDARD_NC6"]["gpus"] == 1
        (raw,) = raw_nodes(cluster)  # a node gets the VM size's resources, capped to the host
        assert raw["resources"]["vcpus"] == min(6, psutil.cpu_count())
        assert raw["resources"]["gpus"] <= 1
    finally:
        cluster.delete()
        wait_until(lambda: cluster_gone(ws, name), 30, "deletion")


def test_scale_up_from_zero_to_max_under_load_then_down_to_min(
    clusters, experiment, project
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=0, max_nodes=2, idle=2)
    assert counts(cluster)["current"] == 0
    script(project, "import time\ntime.sleep(3)\n")
    runs = [submit(experiment, project, cluster) for _ in range(4)]
    peak, pids = 0, set()
    while not all(run.get_status() in ("Completed", "Failed", "Canceled") for run in runs):
        now = counts(cluster)
        assert now["current"] <= 2 and now["target"] <= 2, now
        peak = max(peak, now["running"])
        pids.update(agent_pids(cluster))
        time.sleep(0.2)
    assert peak == 2
    assert [run.get_status() for run in runs] == ["Completed"] * 4
    wait_until(lambda: counts(cluster)["current"] == 0, 30, "scale-down to min_nodes=0")
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in pids
                if p
            )
        ),
        20,
        "the node agents to exit",
    )


def test_a_two_node_run_waits_for_two_free_nodes_and_never_half_starts(
    clusters, experiment, project
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=2, max_nodes=2)
    cluster.wait_for_completion(min_node_count=2, timeout_in_minutes=1)
    script(project, "import os, time\ntime.sleep(float(os.environ.get('SLEEP', '0')) or 0.1)\n")
    blocker_project = project.parent / "blocker"
    blocker_project.mkdir()
    script(blocker_project, "import time\ntime.sleep(4)\n")
    blocker = submit(experiment, blocker_project, cluster)
    wait_until(lambda: blocker.get_status() == "Running", 30, "the blocker to run")
    gang = submit(experiment, project, cluster, node_count=2)
    for _ in range(10):
        assert gang.get_status() == "Queued"
        nodes = cluster.list_nodes()
        assert sorted(node["nodeState"] for node in nodes) == ["idle", "running"]
        assert all(node["runId"] in (None, blocker.id) for node in nodes)
        time.sleep(0.2)
    blocker.wait_for_completion()
    details = gang.wait_for_completion()
    assert details["status"] == "Completed"
    assert details["startTimeUtc"] >= blocker.get_details()["endTimeUtc"]
    assert {"azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"} <= set(
        gang.get_file_names()
    )


def test_higher_priority_runs_go_first(clusters, experiment, project) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=1, max_nodes=1)
    cluster.wait_for_completion(min_node_count=1, timeout_in_minutes=1)
    script(project, "import time\ntime.sleep(1)\n")
    first = submit(experiment, project, cluster)
    wait_until(lambda: first.get_status() == "Running", 30, "the first run")
    low = submit(experiment, project, cluster, priority=0)
    high = submit(experiment, project, cluster, priority=10)
    for run in (first, low, high):
        run.wait_for_completion()
    assert high.get_details()["startTimeUtc"] < low.get_details()["startTimeUtc"]


def test_processes_per_node_each_get_a_rank_and_a_log(clusters, experiment, project) -> None:  # type: ignore[no-untyped-def]
    from trainforge.train.estimator import Estimator

    cluster = clusters(max_nodes=2)
    script(
        project,
        "import os\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], 'local', os.environ['LOCAL_RANK'], 'node', os.environ['NODE_RANK'])\n",
    )
    estimator = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        process_count_per_node=2,
        distributed_backend="mpi",
    )
    run = experiment.submit(estimator)
    logs = run.wait_for_completion() and run.get_details_with_logs()["logFiles"]
    for rank in range(4):
        text = logs[f"azureml-logs/70_driver_log_{rank}.txt"]
        assert f"rank {rank} of 4 local {rank % 2} node {rank // 2}" in text


def test_preempted_run_goes_back_to_the_queue_and_resumes(clusters, experiment, project) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=2, priority="lowpriority")
    script(
        project,
        """
        import os, time
        from trainforge.core import Run
        run = Run.get_context()
        os.makedirs("outputs", exist_ok=True)
        start = int(open("outputs/epoch.txt").read()) if os.path.exists("outputs/epoch.txt") else 0
        print("starting at epoch", start, "attempt", os.environ["TRAINFORGE_RUN_ATTEMPT"], flush=True)
        for epoch in range(start, 6):
            run.log("loss", 1.0 / (epoch + 1), step=epoch)
            run.log("attempt_seen", int(os.environ["TRAINFORGE_RUN_ATTEMPT"]))
            with open("outputs/epoch.txt", "w") as f:
                f.write(str(epoch + 1))
            run.flush()
            time.sleep(1)
    """,
    )
    run = submit(experiment, project, cluster)
    wait_until(
        lambda: "outputs/epoch.txt" in run.get_file_names() and run.get_metrics().get("loss"),
        30,
        "a checkpoint",
    )
    # Preempted a few epochs in, with their checkpoint among the run's files.
    wait_until(lambda: isinstance(run.get_metrics().get("loss"), list), 30, "a second epoch")
    (node,) = [n for n in cluster.list_nodes() if n["runId"] == run.id]
    cluster.preempt_node(node["nodeId"])
    wait_until(lambda: run.get_status() == "Queued" or attempt_of(run) == 2, 10, "requeue")
    assert run.wait_for_completion()["status"] == "Completed"
    assert info_of(run).attempt == 2
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0 / (epoch + 1) for epoch in range(6)]  # each epoch once
    assert set(metrics["attempt_seen"]) == {2}  # an unstepped series keeps its newest attempt
    assert any("preempted" in warning for warning in info_of(run).warnings)
    log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
    assert "attempt 2" in log and "starting at epoch 0" not in log.split("attempt 2")[0][-40:]
    assert node["nodeId"] not in [n["nodeId"] for n in cluster.list_nodes()]
    with pytest.raises(Exception, match="lowpriority"):
        dedicated = clusters(max_nodes=1)
        dedicated.preempt_node("none")


def test_a_silent_node_is_unusable_and_its_run_is_retried_once(
    clusters, experiment, project
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=2)
    script(project, "import time\nprint('working', flush=True)\ntime.sleep(60)\n")
    run = submit(experiment, project, cluster)
    stopped: list[int] = []
    try:
        for attempt in (1, 2):
            wait_until(
                lambda a=attempt: run.get_status() == "Running" and attempt_of(run) == a,
                30,
                f"attempt {attempt} running",
            )
            (node,) = [n for n in raw_nodes(cluster) if n["run_id"] == run.id]
            os.kill(node["pid"], signal.SIGSTOP)  # the agent freezes: no more heartbeats
            stopped.append(node["pid"])
            if attempt == 1:
                wait_until(lambda: attempt_of(run) == 2, 20, "the retry")
        details = run.wait_for_completion(raise_on_error=False)
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "missed its heartbeats" in message and "retried once" in message
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in stopped
            )
        ),
        20,
        "frozen agents removed",
    )


def test_update_takes_effect_on_a_live_cluster(clusters, experiment, project) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=0, max_nodes=1, idle=1)
    script(project, "import time\ntime.sleep(4)\n")
    runs = [submit(experiment, project, cluster) for _ in range(2)]
    wait_until(lambda: runs[0].get_status() == "Running", 30, "first run")
    heartbeats(cluster)
    assert runs[1].get_status() == "Queued" and counts(cluster)["current"] == 1
    cluster.update(max_nodes=2, min_nodes=1)
    wait_until(lambda: all(run.get_status() == "Running" for run in runs), 30, "both runs at once")
    assert counts(cluster)["current"] == 2
    for run in runs:
        run.wait_for_completion()
    wait_until(lambda: counts(cluster)["current"] == 1, 30, "scale-down to the new min_nodes")
    assert cluster.get_status().serialize()["scaleSettings"]["maxNodeCount"] == 2


def test_delete_with_active_runs_fails_them_and_stops_their_processes(
    ws, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(ws, max_nodes=1)
    pid_file = tmp_path / "pid"
    script(
        project,
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
    )
    active = submit(experiment, project, cluster)
    queued = submit(experiment, project, cluster)
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the script to start")
    cluster.delete()
    for run in (active, queued):
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Failed"
        assert f"Compute target {cluster.name} was deleted" in details["error"]["error"]["message"]
    wait_until(lambda: cluster_gone(ws, cluster.name), 30, "the cluster to go")
    pid = int(pid_file.read_text())
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        20,
        "the script to stop",
    )


def test_cancel_on_a_cluster_stops_every_process_and_frees_the_node(
    clusters, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=1)
    pid_file = tmp_path / "pids"
    script(
        project,
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
        open({str(pid_file)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(300)
    """,
    )
    run = submit(experiment, project, cluster)
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the script to start")
    pids = [int(pid) for pid in pid_file.read_text().split()]
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    wait_until(lambda: counts(cluster)["idle"] == 1, 20, "the node to be idle again")
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in pids
            )
        ),
        20,
        "no orphans",
    )


def test_status_counts_match_the_agents_alive(clusters) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=2, max_nodes=3)
    cluster.wait_for_completion(min_node_count=2, timeout_in_minutes=1)
    now = counts(cluster)
    pids = agent_pids(cluster)
    assert now["current"] == now["idle"] == len(pids) == 2
    assert all(psutil.pid_exists(pid) for pid in pids)
    cluster.update(min_nodes=0, idle_seconds_before_scaledown=0)
    wait_until(lambda: counts(cluster)["current"] == 0, 30, "scale to zero")
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                for pid in pids
            )
        ),
        20,
        "agents gone",
    )
