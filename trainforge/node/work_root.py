"""Where nodes and runs work: a folder beside the server's home, never inside it.

A run's processes get their own folder under it and nothing of the home (which holds
the admin token, the keys and the database), so no path they see leads into the home.
``TRAINFORGE_WORK_DIR`` overrides the default ``<home>-work``. Inside:
``workspaces/<ws>/envs/<hash>`` (built environments, per workspace: a run may change the
environment it runs in, and that must never reach another workspace's runs),
``cache/datastores/<ws>`` (downloaded data), ``cache/snapshots/<ws>`` (snapshot archives) and ``workspaces/<ws>/nodes/<cluster>/<node>/``
(node folders; runs in ``runs/<run>.<attempt>``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from trainforge.node.settings import NodeSettings

WORK_DIR_VARIABLE = NodeSettings.variable("work_dir")


def work_root(home: Path) -> Path:
    configured = NodeSettings().work_dir
    if configured:
        return Path(configured).expanduser().resolve()
    return home.parent / f"{home.name}-work"


def envs_root(home: Path, workspace_name: str) -> Path:
    return work_root(home) / "workspaces" / workspace_name / "envs"


def nodes_root(home: Path, workspace_name: str) -> Path:
    return work_root(home) / "workspaces" / workspace_name / "nodes"


def datastore_cache(home: Path, workspace_name: str) -> Path:
    return work_root(home) / "cache" / "datastores" / workspace_name


def snapshot_cache(home: Path, workspace_name: str) -> Path:
    return work_root(home) / "cache" / "snapshots" / workspace_name


def names_path_in(value: str, folder: Path) -> bool:
    """Whether ``value`` (a path or a PATH-like list) names ``folder`` or a path inside it."""
    root = str(folder).rstrip(os.sep)
    return any(part == root or part.startswith(root + os.sep) for part in value.split(os.pathsep))


def without_home(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """``environ`` less what leads into the server's home, for the processes of a run or a
    service: no TRAINFORGE_* setting of the node's, no value naming a path in ``home``."""
    return {
        k: v
        for k, v in environ.items()
        if not k.startswith("TRAINFORGE_") and not names_path_in(v, home)
    }
