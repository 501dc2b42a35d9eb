"""The README's first command stays true: the quickstart runs end to end on a fresh home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, stop_everything

# Every test runs the CLI, or the quickstart, as a separate process.
pytestmark = pytest.mark.real_process


@pytest.mark.slow
def test_quickstart_runs_on_the_embedded_default(tmp_path: Path) -> None:
    example = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", example)
    home = tmp_path / "home"
    try:
        done = subprocess.run(
            [sys.executable, str(example / "quickstart.py")],
            env={**os.environ, "TRAINFORGE_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        stop_everything(home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Workspace name: quickstart" in out
    assert "Minimum number of nodes requested have been provisioned" in out
    assert "'vmPriority': 'LowPriority'" in out and "'nodeIdleTimeBeforeScaleDown': 'PT300S'" in out
    assert "AzureBlob local azureml-blobstore-" in out
    assert "Uploading an estimated of 1 files" in out and "Uploaded 1 files" in out
    assert "$AZUREML_DATAREFERENCE_" in out
    assert "Streaming azureml-logs/70_driver_log_0.txt" in out
    assert "rank 0/2 on node 0: 1000 points from" in out and "linear_dataset/points.npz" in out
    assert "epoch  99" in out
    assert "Execution Summary" in out
    assert "final loss:" in out
    assert out.rstrip().endswith('Provisioning operation finished, operation "Succeeded"')
    assert (example / "model.json").exists()
    assert (example / ".azureml" / "config.json").exists()
