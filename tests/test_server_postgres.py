"""A team server: the control plane on a PostgreSQL database, used by the SDK from another
process as any user's code would, with real node agents and launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.postgres_server import (
    PostgresServer,
    create_database,
    kill_recorded,
    postgres_server_fixture,  # noqa: F401  (the fixture)
)
from trainforge.client import local_server

pytestmark = pytest.mark.slow

USER_CODE = textwrap.dedent(
    """
    import json, sys, time
    from trainforge.core import Experiment, ScriptRunConfig, Workspace
    from trainforge.core.compute import AmlCompute, ComputeTarget

    ws = Workspace.create("pg-ws", exist_ok=True, show_output=False)
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=1)
    cluster = ComputeTarget.create(ws, "pg-cluster", config)
    cluster.wait_for_completion(show_output=False)
    run = Experiment(ws, "pg-exp").submit(
        ScriptRunConfig(source_directory=sys.argv[1], script="train.py", compute_target=cluster)
    )
    run.wait_for_completion(show_output=False)
    local = Experiment(ws, "pg-exp").submit(ScriptRunConfig(sys.argv[1], "train.py"))
    local.wait_for_completion(show_output=False)
    found = {
        "status": [run.get_status(), local.get_status()],
        "metrics": [run.get_metrics(), local.get_metrics()],
        "nodes": [n["nodeId"] for n in cluster.list_nodes()],
        "runs": sorted(r.id for r in Experiment(ws, "pg-exp").get_runs()),
        "ids": sorted([run.id, local.id]),
    }
    cluster.delete()
    deadline = time.monotonic() + 60
    while ComputeTarget.list(ws) and time.monotonic() < deadline:
        time.sleep(0.5)
    found["clusters_left"] = len(ComputeTarget.list(ws))
    print(json.dumps(found))
    """
)
TRAIN = textwrap.dedent(
    """
    from trainforge.core import Run
    run = Run.get_context()
    for step in range(5):
        run.log("loss", 1.0 / (step + 1))
    run.log_row("table", epoch=1, acc=0.5)
    """
)


def test_runs_on_a_server_backed_by_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = create_database(postgres_server, f"tf_server_{uuid.uuid4().hex[:8]}")
    home = tmp_path / "team-home"
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(TRAIN)
    local_server.ensure_server(home, database_url=url)
    try:
        assert not (home / "trainforge.db").exists()  # the store is the PostgreSQL database
        user = subprocess.run(
            [sys.executable, "-c", USER_CODE, str(source)],
            env={**os.environ, "TRAINFORGE_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert user.returncode == 0, user.stderr[-4000:]
        found = json.loads(user.stdout.strip().splitlines()[-1])
    finally:
        local_server.stop_server(home)
        kill_recorded(url)
    expected = {"loss": [1.0, 0.5, 1 / 3, 0.25, 0.2], "table": {"epoch": [1], "acc": [0.5]}}
    assert found["status"] == ["Completed", "Completed"]
    assert found["metrics"] == [expected, expected]
    assert found["nodes"] == ["pg-cluster-n001"]
    assert found["runs"] == found["ids"]
    assert found["clusters_left"] == 0
    engine = create_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM metrics")).scalar()
    engine.dispose()
    assert stored == 2 * 6
