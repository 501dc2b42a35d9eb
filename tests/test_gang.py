"""How a gang's launchers meet: task placement, endpoints and node commands through the
control plane's REST API (the real server of the test session)."""

from __future__ import annotations

import threading
import time

import pytest

from trainforge.client.http import ApiError
from trainforge.node import mpi, tf_cluster
from trainforge.node.gang_client import GangClient, GangTimeout, PortReservation
from trainforge.schemas.gang import TaskEndpoint


def test_tasks_are_placed_as_amlcompute_does() -> None:
    # The notebook's job: 2 nodes, 2 workers, 1 parameter server.
    assert tf_cluster.node_tasks(0, 2, 2, 1) == [("ps", 0), ("worker", 0)]
    assert tf_cluster.node_tasks(1, 2, 2, 1) == [("worker", 1)]
    # More tasks than nodes: round robin, parameter servers first on each node.
    assert tf_cluster.node_tasks(0, 2, 3, 2) == [("ps", 0), ("worker", 0), ("worker", 2)]
    assert tf_cluster.node_tasks(1, 2, 3, 2) == [("ps", 1), ("worker", 1)]
    assert tf_cluster.node_tasks(0, 1, 2, 0) == [("worker", 0), ("worker", 1)]


def test_failed_rank_is_read_from_mpirun_output() -> None:
    output = (
        "noise\n"
        + mpi.FAILURE_START.format(rank=3, code=1)
        + "\nTraceback (most recent call last):\nValueError: x\n"
        + mpi.FAILURE_END.format(rank=3)
        + "\nmpirun noticed that process rank 3 exited\n"
    )
    assert mpi.rank_failure(output) == (3, 1, "Traceback (most recent call last):\nValueError: x")
    assert mpi.rank_failure("mpirun: no rank reported") is None
    assert mpi.node_rank_of(mpi.host_name(2)) == 2
    with pytest.raises(ValueError, match="is not a node of this run"):
        mpi.node_rank_of("elsewhere")


def test_reserved_ports_are_distinct_until_released() -> None:
    first, second = PortReservation("127.0.0.1", 3), PortReservation("127.0.0.1", 3)
    assert len(set(first.ports + second.ports)) == 6
    first.release()
    second.release()


def test_endpoints_and_commands_meet_through_the_control_plane(experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging()
    ws = experiment.workspace
    gang = GangClient(ws.service_context.client, ws.name, run.id, attempt=1)
    stop = threading.Event()
    gang.publish(0, [TaskEndpoint(task_type="ps", task_index=0, host="127.0.0.1", port=4000)])
    found = gang.wait_for_all(5, stop, time.monotonic)  # an interactive run has one node
    assert tf_cluster.cluster_spec(found) == {"ps": ["127.0.0.1:4000"]}

    with pytest.raises(ApiError, match="node_rank: 1 is not a node of run"):
        gang.publish(1, [TaskEndpoint(task_type="worker", task_index=0, host="h", port=1)])
    with pytest.raises(ApiError, match="attempt 1, not 2"):
        GangClient(ws.service_context.client, ws.name, run.id, attempt=2).publish(0, [])
    with pytest.raises(ApiError, match=r"task_type: String should match pattern"):
        ws.service_context.client.put(
            f"/workspaces/{ws.name}/runs/{run.id}/attempts/1/nodes/0/endpoints",
            {"endpoints": [{"task_type": "PS 0", "task_index": 0, "host": "h"}]},
        )

    posted = gang.post_command(0, "orted --anything")
    assert [c.command for c in gang.posted_commands(0, wait_s=0)] == ["orted --anything"]
    gang.update_command(posted.id, "running")
    assert gang.posted_commands(0, wait_s=0) == []
    ended: list[int | None] = []
    waiter = threading.Thread(
        target=lambda: ended.append(gang.wait_command(posted.id, 10).exit_code)
    )
    waiter.start()
    gang.update_command(posted.id, "ended", 7)
    waiter.join()
    assert ended == [7]
    with pytest.raises(ApiError, match="has already ended"):
        gang.update_command(posted.id, "ended", 0)
    run.complete()
    with pytest.raises(ApiError, match="has ended"):
        gang.publish(0, [])


def test_waiting_for_missing_nodes_gives_up(experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging()
    ws = experiment.workspace
    gang = GangClient(ws.service_context.client, ws.name, run.id, attempt=1)
    stop = threading.Event()
    stop.set()
    with pytest.raises(GangTimeout, match="stopped while waiting"):
        gang.wait_for_all(60, stop, time.monotonic)
    run.complete()


def test_layouts_per_mode() -> None:
    from trainforge.node.process_plan import layout
    from trainforge.schemas.runs import RunDefinition

    ps = RunDefinition(
        script="t.py", communicator="ParameterServer", worker_count=1, parameter_server_count=2
    )
    node_0, node_1 = layout(ps, 0, 2), layout(ps, 1, 2)
    assert [(s.log_name, s.role) for s in node_0.slots] == [
        ("azureml-logs/70_driver_log_ps_0.txt", "helper"),
        ("azureml-logs/70_driver_log_worker_0.txt", "main"),
    ]
    assert node_0.has_main and not node_1.has_main  # node 1 only serves ps 1

    mpi_run = RunDefinition(script="t.py", communicator="IntelMpi", process_count_per_node=2)
    first, second = layout(mpi_run, 0, 2), layout(mpi_run, 1, 2)
    assert [s.label for s in first.slots] == ["mpirun"]
    assert first.rank_logs == [
        "azureml-logs/70_driver_log_0.txt",
        "azureml-logs/70_driver_log_1.txt",
    ]
    assert second.slots == [] and second.serves_daemons
    assert second.rank_logs[1:] == [
        "azureml-logs/70_driver_log_2.txt",
        "azureml-logs/70_driver_log_3.txt",
    ]

    single = layout(RunDefinition(script="t.py"), 0, 1)
    assert [s.log_name for s in single.slots] == ["azureml-logs/70_driver_log.txt"]
