"""The node layer stands on the client and the schemas only: a node agent or a launcher
never loads the SDK facade (trainforge.core, .train, .data), the layer above it."""

from __future__ import annotations

import json
import subprocess
import sys

NODE_MODULES = ("trainforge.node.agent", "trainforge.node.launcher", "trainforge.node.mpi_agent")
FACADE = ("trainforge.core", "trainforge.train", "trainforge.data")


def test_the_node_layer_loads_no_facade_module() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {NODE_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    # A fresh interpreter: this test process has loaded the facade long ago.
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(found.stdout)
    above = [m for m in loaded if m in FACADE or m.startswith(tuple(f"{f}." for f in FACADE))]
    assert above == []
