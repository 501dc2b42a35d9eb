"""The ``trainforge`` command line run as a user runs it: a separate process per command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(
    home: Path, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINFORGE_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "trainforge.cli.main", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def flat(text: str) -> str:
    return " ".join(text.split())
