"""``utilities.cluster``: a cluster's state in one line, and its errors."""

from __future__ import annotations

from trainforge.schemas.batchai import Cluster


def print_cluster_status(cluster: Cluster) -> None:
    """Print the cluster's allocation state, node counts by state, and any errors."""
    counts = cluster.node_state_counts
    target = (
        cluster.scale_settings.manual.target_node_count
        if cluster.scale_settings is not None and cluster.scale_settings.manual is not None
        else None
    )
    print(
        f"Cluster state: {cluster.allocation_state} Target: {target}; "
        f"Allocated: {cluster.current_node_count}; "
        f"Idle: {counts.idle_node_count if counts else 0}; "
        f"Unusable: {counts.unusable_node_count if counts else 0}; "
        f"Running: {counts.running_node_count if counts else 0}; "
        f"Preparing: {counts.preparing_node_count if counts else 0}; "
        f"Leaving: {counts.leaving_node_count if counts else 0}"
    )
    for error in cluster.errors or []:
        print(f"Cluster error: {error.code}: {error.message}")
        for detail in error.details or []:
            print(f"{detail.name}: {detail.value}")
