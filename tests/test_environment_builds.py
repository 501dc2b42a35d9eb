"""Runs whose environment asks for packages: real virtualenvs built by uv (and pip), cached
by content, built once under concurrency, and failing with the installer's error.

The packages used here (tabulate, munch, humanize, toolz) are not installed in the
test interpreter, so a script that imports them proves the environment was built.
"""

from __future__ import annotations

import importlib.util
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import run_file_bytes
from trainforge.core import Environment, Experiment, ScriptRunConfig
from trainforge.core.conda_dependencies import CondaDependencies
from trainforge.core.script_run import ScriptRun
from trainforge.node.environments import INSTALLER_SETTING, READY_MARKER, EnvironmentCache, plan
from trainforge.node.work_root import envs_root
from trainforge.schemas.runs import EnvironmentSpec, PythonSection
from trainforge.train.estimator import Estimator

pytestmark = pytest.mark.slow

BUILD_LOG = "azureml-logs/20_image_build_log.txt"
DRIVER_LOG = "azureml-logs/70_driver_log.txt"

IMPORTING_SCRIPT = """\
import sys
import {module}
from trainforge.core import Run

run = Run.get_context()
run.log("imported", 1)
print("PREFIX", sys.prefix, flush=True)
print("MODULE", {module}.__file__, flush=True)
"""


def run_file(run: ScriptRun, name: str) -> str:
    return run_file_bytes(run, name).decode()


def prefix_of(run: ScriptRun) -> str:
    for line in run_file(run, DRIVER_LOG).splitlines():
        if line.startswith("PREFIX "):
            return line.split(" ", 1)[1]
    raise AssertionError(run_file(run, DRIVER_LOG))


@pytest.fixture(autouse=True)
def packages_are_not_in_the_test_interpreter() -> None:
    for module in ("tabulate", "munch", "humanize", "toolz"):
        assert importlib.util.find_spec(module) is None, f"{module} is installed in the test venv"


def test_a_run_imports_a_package_of_its_environment_and_the_next_run_reuses_it(
    experiment: Experiment, project: Path, tf_home: Path
) -> None:
    (project / "train.py").write_text(IMPORTING_SCRIPT.format(module="tabulate"))
    env = Environment("tabulate-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
    config = ScriptRunConfig(source_directory=str(project), script="train.py", environment=env)

    first = experiment.submit(config)
    assert first.wait_for_completion(raise_on_error=False)["status"] == "Completed", run_file(
        first, DRIVER_LOG
    )
    assert first.get_metrics() == {"imported": 1}
    built = run_file(first, BUILD_LOG)
    assert "building into" in built and "with uv" in built and "cache hit" not in built
    prefix = prefix_of(first)
    assert Path(prefix).parent == envs_root(tf_home, experiment.workspace.name)
    assert (Path(prefix) / READY_MARKER).is_file()

    second = experiment.submit(config)
    assert second.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    reused = run_file(second, BUILD_LOG)
    assert "cache hit" in reused and "building into" not in reused
    assert prefix_of(second) == prefix


def test_concurrent_runs_of_a_new_environment_build_it_once(
    experiment: Experiment, project: Path, tf_home: Path
) -> None:
    (project / "train.py").write_text(IMPORTING_SCRIPT.format(module="munch"))
    estimator = Estimator(
        str(project), compute_target="local", entry_script="train.py", conda_packages=["munch"]
    )
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: experiment.submit(estimator), range(2)))
    for run in runs:
        assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run_file(
            run, BUILD_LOG
        )
    logs = [run_file(run, BUILD_LOG) for run in runs]
    assert sum("building into" in log for log in logs) == 1, logs
    assert sum("cache hit" in log for log in logs) == 1, logs
    assert prefix_of(runs[0]) == prefix_of(runs[1])


def test_conda_specification_with_a_pip_section_is_installed(
    experiment: Experiment, project: Path
) -> None:
    (project / "train.py").write_text(
        IMPORTING_SCRIPT.format(module="humanize") + "import toolz\nprint('toolz ok')\n"
    )
    (project / "env.yml").write_text(
        "name: humanize\ndependencies:\n  - python=3.8\n  - pip\n  - humanize\n"
        "  - pip:\n    - azureml-defaults\n    - toolz\n"
    )
    env = Environment.from_conda_specification("humanize-env", str(project / "env.yml"))
    run = experiment.submit(
        ScriptRunConfig(source_directory=str(project), script="train.py", environment=env)
    )
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run_file(
        run, BUILD_LOG
    )
    assert "toolz ok" in run_file(run, DRIVER_LOG)
    assert "python=3.8 is asked for" in run_file(run, BUILD_LOG)


def test_a_package_that_does_not_exist_fails_the_run_with_the_installer_error(
    experiment: Experiment, project: Path, tf_home: Path
) -> None:
    (project / "train.py").write_text("print('never runs')\n")
    env = Environment("broken-env")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["trainforge-no-such-package-4242"]
    )
    run = experiment.submit(
        ScriptRunConfig(source_directory=str(project), script="train.py", environment=env)
    )
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "Building the environment failed" in message
    assert "trainforge-no-such-package-4242 was not found in the package registry" in message
    log = run_file(run, BUILD_LOG)
    assert "trainforge-no-such-package-4242 was not found" in log
    assert "never runs" not in run_file(run, DRIVER_LOG)
    # nothing half-built is left to be mistaken for a cached environment
    build = plan(env._spec({}, docker_enabled=False))
    assert build is not None
    assert not (envs_root(tf_home, experiment.workspace.name) / build.key).exists()


def test_pip_builds_the_environment_when_uv_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INSTALLER_SETTING, "pip")
    spec = EnvironmentSpec(python=PythonSection(pip_packages=["toolz"]))
    build = plan(spec)
    assert build is not None
    cache = EnvironmentCache(tmp_path / "envs")
    log = tmp_path / "build.log"
    python = cache.ensure(build, log)
    text = log.read_text()
    assert "with pip (uv is not installed)" in text
    checked = os.popen(f"{python} -c 'import toolz, trainforge.core; print(toolz.__name__)'").read()
    assert checked.strip() == "toolz"
    ready = json.loads((python.parent.parent / READY_MARKER).read_text())
    assert ready["installer"] == "pip" and ready["requirements"] == ["toolz"]
    assert cache.ensure(build, log) == python
    assert "cache hit" in log.read_text()


def test_a_poisoned_environment_of_one_workspace_is_never_used_by_another(
    ws, project: Path, tf_home: Path
) -> None:
    """Two workspaces with the same environment each build their own: what a run of
    workspace A leaves in its environment (here a .pth file that runs at every start)
    never reaches a run of workspace B."""
    from trainforge.core import Workspace

    (project / "train.py").write_text(
        IMPORTING_SCRIPT.format(module="toolz")
        + "import os\nprint('POISON', os.environ.get('POISONED'))\n"
    )
    env = Environment("shared-name-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["toolz"])
    config = ScriptRunConfig(source_directory=str(project), script="train.py", environment=env)

    first = Experiment(ws, "poison").submit(config)
    done = first.wait_for_completion(raise_on_error=False)
    assert done["status"] == "Completed", run_file(first, DRIVER_LOG)[-1500:]
    poisoned = Path(prefix_of(first))
    site = next(poisoned.glob("lib/python*/site-packages"))
    # What a script of workspace A could do to the environment it runs in.
    (site / "zz_poison.pth").write_text("import os; os.environ['POISONED'] = 'yes'\n")

    other = Workspace.create("poison-ws-b", exist_ok=True, show_output=False)
    second = Experiment(other, "poison").submit(config)
    done = second.wait_for_completion(raise_on_error=False)
    assert done["status"] == "Completed", (done.get("error"), run_file(second, BUILD_LOG))
    assert "building into" in run_file(second, BUILD_LOG)
    assert Path(prefix_of(second)) != poisoned
    assert Path(prefix_of(second)).parent == envs_root(tf_home, other.name)
    assert "POISON None" in run_file(second, DRIVER_LOG)
