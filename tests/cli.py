"""The ``trainforge`` command line run as a user runs it: a separate process per command
(``cli``), or in this process under Typer's CliRunner (``invoke``, ``ok``, ``failed``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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


def invoke(*args: str) -> Any:
    """The CLI in this process (the session must point at a server, as ``cli_server`` does)."""
    from typer.testing import CliRunner

    from trainforge.cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def ok(*args: str) -> str:
    """The output of a command that must succeed."""
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return str(result.stdout)


def failed(code: int, *args: str) -> str:
    """The one error line of a command that must fail with ``code``, never a traceback."""
    result = invoke(*args)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return flat(result.stderr)
