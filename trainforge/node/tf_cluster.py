"""TensorFlow parameter-server clusters as AmlCompute lays them out.

Workers go one per node in order (round robin when there are more workers than
nodes), parameter servers are placed the same way starting at node 0, and on each node
the parameter servers come first: with 2 nodes, 2 workers and 1 ps, node 0 runs ps 0
and worker 0, node 1 runs worker 1 (reference 5.5).
"""

from __future__ import annotations

import json

from trainforge.schemas.gang import GangEndpoints

PS, WORKER = "ps", "worker"


def node_tasks(
    node_rank: int, node_count: int, worker_count: int, parameter_server_count: int
) -> list[tuple[str, int]]:
    """The (task type, index) pairs that run on node ``node_rank``, in port order."""
    tasks = [(PS, i) for i in range(parameter_server_count) if i % node_count == node_rank]
    tasks += [(WORKER, i) for i in range(worker_count) if i % node_count == node_rank]
    return tasks


def cluster_spec(gang: GangEndpoints) -> dict[str, list[str]]:
    """``{"ps": [host:port, ...], "worker": [...]}`` ordered by task index; no empty ``ps``."""
    found: dict[str, dict[int, str]] = {}
    for node in gang.nodes:
        for endpoint in node.endpoints:
            found.setdefault(endpoint.task_type, {})[endpoint.task_index] = (
                f"{endpoint.host}:{endpoint.port}"
            )
    return {
        task_type: [by_index[i] for i in sorted(by_index)]
        for task_type, by_index in sorted(found.items())
        if task_type in (PS, WORKER)
    }


def task_variables(cluster: dict[str, list[str]], task_type: str, index: int) -> dict[str, str]:
    """``TF_CONFIG`` and the Batch AI names one task sees."""
    tf_config = {
        "cluster": cluster,
        "task": {"type": task_type, "index": index},
        "environment": "cloud",
    }
    return {
        "TF_CONFIG": json.dumps(tf_config),
        "AZ_BATCHAI_PS_HOSTS": ",".join(cluster.get(PS, [])),
        "AZ_BATCHAI_WORKER_HOSTS": ",".join(cluster.get(WORKER, [])),
        "AZ_BATCHAI_TASK_INDEX": str(index),
        "AZ_BATCHAI_TASK_TYPE": task_type,
    }
