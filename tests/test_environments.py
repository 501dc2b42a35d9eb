"""Environments as users write them: CondaDependencies, factories, Estimator package
arguments, the workspace registry with versions, and the CLI. (Builds: test_environment_builds.py.)"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cli import cli
from trainforge.core import Environment, Workspace
from trainforge.core.conda_dependencies import CondaDependencies
from trainforge.core.runconfig import RunConfiguration
from trainforge.core.script_run import definition_of
from trainforge.exceptions import TrainingException, UserErrorException
from trainforge.node.environments import BuildPlan, plan, uv_index_options
from trainforge.schemas.runs import EnvironmentSpec
from trainforge.train.estimator import Estimator

CONDA_YAML = """\
name: project_environment
channels:
  - conda-forge
dependencies:
  - python=3.8.13
  - pip=20.2.4
  - scikit-learn
  - numpy=1.19
  - pytorch::pytorch=1.13.1=py3.8_cpu_0
  - pip:
      - azureml-defaults
      - --extra-index-url https://example.invalid/simple
      - tabulate==0.10.0
"""


def spec_of(env: Environment) -> EnvironmentSpec:
    config = RunConfiguration(script="train.py")
    config.environment = env
    return definition_of(config, "train.py").environment


# -- CondaDependencies -----------------------------------------------------------------------
def test_create_holds_the_sdk_defaults_and_the_packages() -> None:
    default = CondaDependencies.create()
    assert default.pip_packages == ["azureml-defaults"]
    assert default.get_python_version() == "3.8.13"

    deps = CondaDependencies.create(
        pip_packages=["tabulate==0.10.0", "toolz"],
        conda_packages=["scikit-learn", "numpy=1.19"],
        python_version="3.11",
    )
    assert deps.pip_packages == ["tabulate==0.10.0", "toolz"]
    assert deps.conda_packages == ["scikit-learn", "numpy=1.19"]
    assert deps.get_python_version() == "3.11"
    text = deps.serialize_to_string()
    parsed = yaml.safe_load(text)
    assert parsed["dependencies"][0] == "python=3.11"
    assert {"pip": ["tabulate==0.10.0", "toolz"]} in parsed["dependencies"]


def test_add_remove_and_options_edit_by_package_name() -> None:
    deps = CondaDependencies.create(pip_packages=["tabulate==0.9.0"], conda_packages=["numpy"])
    deps.add_pip_package("tabulate==0.10.0")  # the same package: replaced, not duplicated
    deps.add_pip_package("toolz")
    deps.add_conda_package("numpy=1.26")
    deps.add_conda_package("scipy")
    deps.set_pip_option("--pre")
    deps.set_pip_index_url("https://example.invalid/simple")
    assert deps.pip_packages == ["tabulate==0.10.0", "toolz"]
    assert deps.conda_packages == ["numpy=1.26", "scipy"]
    assert set(deps.pip_options) == {"--pre", "--index-url https://example.invalid/simple"}
    deps.remove_pip_package("tabulate")
    deps.remove_conda_package("scipy")
    assert deps.pip_packages == ["toolz"]
    assert deps.conda_packages == ["numpy=1.26"]


def test_save_to_file_and_load_round_trip(tmp_path: Path) -> None:
    deps = CondaDependencies.create(pip_packages=["toolz"], conda_packages=["scikit-learn"])
    written = deps.save_to_file(str(tmp_path), conda_file_path="envs/myenv.yml")
    assert Path(written) == tmp_path / "envs" / "myenv.yml"
    assert CondaDependencies(conda_dependencies_file_path=written) == deps
    deps.save(str(tmp_path / "other.yml"))
    assert CondaDependencies(str(tmp_path / "other.yml")).pip_packages == ["toolz"]
    with pytest.raises(UserErrorException, match="conda_file_path.*climbs out"):
        deps.save_to_file(str(tmp_path), conda_file_path="../escape.yml")


def test_bad_conda_files_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(UserErrorException, match="conda_dependencies_file_path: .* is not a file"):
        CondaDependencies(conda_dependencies_file_path=str(tmp_path / "missing.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("dependencies: numpy\n")
    with pytest.raises(UserErrorException, match="'dependencies' must be a list"):
        CondaDependencies(str(bad))


# -- Environment factories and what a run asks for ---------------------------------------------
def test_from_conda_specification_installs_conda_and_pip_sections(tmp_path: Path) -> None:
    path = tmp_path / "env.yml"
    path.write_text(CONDA_YAML)
    env = Environment.from_conda_specification("conda-env", str(path))
    assert env.name == "conda-env"
    spec = spec_of(env)
    assert spec.python.pip_packages == ["tabulate==0.10.0"]  # azureml-* is trainforge itself
    assert spec.python.pip_options == ["--extra-index-url https://example.invalid/simple"]
    assert spec.python.python_version == "3.8.13"
    build = plan(spec)
    assert build is not None
    # conda names and version specs as PyPI knows them; python and pip are not packages
    assert build.requirements == [
        "tabulate==0.10.0",
        "scikit-learn",
        "numpy==1.19.*",
        "torch==1.13.1.*",
    ]
    assert any("python=3.8.13" in note for note in build.notes)


def test_from_conda_specification_names_conda_only_packages(tmp_path: Path) -> None:
    path = tmp_path / "gpu.yml"
    path.write_text(CONDA_YAML.replace("  - scikit-learn\n", "  - cudatoolkit=11.3\n  - r-base\n"))
    with pytest.raises(UserErrorException) as failure:
        Environment.from_conda_specification("gpu-env", str(path))
    message = str(failure.value)
    assert "cudatoolkit=11.3" in message and "r-base" in message
    assert "conda-only" in message and "user_managed_dependencies" in message


def test_from_pip_requirements_keeps_lines_and_options(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# training\ntabulate==0.10.0  # tables\n\n--find-links /opt/wheels\ntoolz\n")
    env = Environment.from_pip_requirements("pip-env", str(path))
    deps = env.python.conda_dependencies
    assert deps.pip_packages == ["tabulate==0.10.0", "toolz"]
    assert deps.pip_options == ["--find-links /opt/wheels"]
    assert spec_of(env).python.pip_packages == ["tabulate==0.10.0", "toolz"]


def test_save_to_directory_and_load_from_directory(tmp_path: Path) -> None:
    env = Environment("saved")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["toolz"])
    env.environment_variables = {"A": "1"}
    env.save_to_directory(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "conda_dependencies.yml").is_file()
    loaded = Environment.load_from_directory(str(tmp_path / "saved"))
    assert loaded.name == "saved" and loaded._definition() == env._definition()
    with pytest.raises(UserErrorException, match="not empty; pass overwrite=True"):
        env.save_to_directory(str(tmp_path / "saved"))
    env.save_to_directory(str(tmp_path / "saved"), overwrite=True)


def test_an_environment_without_packages_needs_no_build() -> None:
    spec = spec_of(Environment("plain"))
    assert spec.python.pip_packages == [] and plan(spec) is None


def test_environment_variables_reach_the_run_definition() -> None:
    env = Environment("vars")
    env.environment_variables = {"MY_SETTING": "42"}
    assert spec_of(env).environment_variables["MY_SETTING"] == "42"


def test_build_key_follows_content_not_order() -> None:
    a = BuildPlan(["tabulate", "toolz"], [], ["httpx==0.28.1"])
    b = BuildPlan(["toolz", "tabulate"], [], ["httpx==0.28.1"])
    c = BuildPlan(["toolz"], [], ["httpx==0.28.1"])
    assert a.key == b.key != c.key


def test_pip_settings_become_uv_flags() -> None:
    flags = uv_index_options(
        {
            "index-url": ["https://mirror.invalid/simple"],
            "extra-index-url": ["file:///opt/pypi/simple", "file:///opt/more/simple"],
            "find-links": ["/opt/wheels"],
            "constraint": ["/etc/constraints.txt"],
        },
        ["--pre", "-f /tmp/wheels"],
    )
    joined = " ".join(flags)
    assert "--index-url https://mirror.invalid/simple" in joined
    assert (
        "--extra-index-url file:///opt/pypi/simple --extra-index-url file:///opt/more/simple"
        in joined
    )
    assert "--find-links /opt/wheels" in joined and "--find-links /tmp/wheels" in joined
    assert "--constraint /etc/constraints.txt" in joined
    assert "--prerelease=allow" in flags
    assert "--index-strategy unsafe-best-match" in joined


# -- Estimator package arguments --------------------------------------------------------------
def test_estimator_packages_and_requirements_file(project: Path) -> None:
    (project / "train.py").write_text("print(1)\n")
    (project / "requirements.txt").write_text("toolz\n")
    est = Estimator(
        str(project),
        entry_script="train.py",
        pip_packages=["tabulate"],
        conda_packages=["scikit-learn"],
        pip_requirements_file="requirements.txt",
        environment_variables={"A": "1"},
    )
    deps = est.conda_dependencies
    assert deps.pip_packages == ["azureml-defaults", "toolz", "tabulate"]
    assert deps.conda_packages == ["scikit-learn"]
    spec = spec_of(est.run_config.environment)
    assert spec.python.pip_packages == ["toolz", "tabulate"]
    assert spec.environment_variables["A"] == "1"


def test_estimator_conda_file_is_used_as_it_is(project: Path) -> None:
    (project / "train.py").write_text("print(1)\n")
    (project / "env.yml").write_text(CONDA_YAML)
    est = Estimator(str(project), entry_script="train.py", conda_dependencies_file="env.yml")
    assert est.conda_dependencies.pip_packages == ["azureml-defaults", "tabulate==0.10.0"]


def test_estimator_validation_follows_the_sdk(project: Path) -> None:
    (project / "train.py").write_text("print(1)\n")
    (project / "env.yml").write_text(CONDA_YAML)
    env = Environment("defined")
    with pytest.raises(
        TrainingException,
        match="environment_definition cannot be combined with pip_packages, conda_packages",
    ):
        Estimator(
            str(project),
            entry_script="train.py",
            environment_definition=env,
            pip_packages=["tabulate"],
            conda_packages=["numpy"],
        )
    with pytest.raises(
        TrainingException,
        match="environment_definition cannot be combined with environment_variables",
    ):
        Estimator(
            str(project),
            entry_script="train.py",
            environment_definition=env,
            environment_variables={"A": "1"},
        )
    with pytest.raises(TrainingException, match="conda_dependencies_file: cannot be combined"):
        Estimator(
            str(project),
            entry_script="train.py",
            conda_dependencies_file="env.yml",
            pip_packages=["x"],
        )
    with pytest.raises(UserErrorException, match="user_managed"):
        Estimator(str(project), entry_script="train.py", user_managed=True, pip_packages=["x"])
    with pytest.raises(UserErrorException, match="pip_requirements_file: .*doesn't exist"):
        Estimator(str(project), entry_script="train.py", pip_requirements_file="missing.txt")
    with pytest.raises(TrainingException, match="must be inside source_directory"):
        Estimator(str(project), entry_script="train.py", conda_dependencies_file="../env.yml")
    # environment_definition alone is used as given
    est = Estimator(str(project), entry_script="train.py", environment_definition=env)
    assert est.run_config.environment is env


# -- the workspace registry --------------------------------------------------------------------
def test_register_get_list_and_clone_with_versions(ws: Workspace) -> None:
    name = f"reg-{uuid.uuid4().hex[:8]}"
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
    env.environment_variables = {"A": "1"}
    first = env.register(ws)
    assert (first.name, first.version) == (name, "1")
    assert env.register(ws).version == "1"  # same content: the version already registered

    env.python.conda_dependencies.add_pip_package("toolz")
    second = env.register(ws)
    assert second.version == "2"

    latest = Environment.get(ws, name)
    assert latest.version == "2"
    assert latest.python.conda_dependencies.pip_packages == ["tabulate", "toolz"]
    assert latest.environment_variables == {"A": "1"}
    old = Environment.get(workspace=ws, name=name, version="1")
    assert old.python.conda_dependencies.pip_packages == ["tabulate"]

    listed = Environment.list(ws)
    assert listed[name].version == "2"
    assert ws.environments[name].version == "2"

    copy = latest.clone(f"{name}-copy")
    assert copy.version is None and copy.name == f"{name}-copy"
    assert copy.register(ws).version == "1"
    assert latest.version == "2"  # the original is untouched


def test_registry_errors_name_what_is_wrong(ws: Workspace) -> None:
    name = f"err-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UserErrorException, match=f"Environment '{name}' is not registered"):
        Environment.get(ws, name)
    Environment(name).register(ws)
    with pytest.raises(UserErrorException, match="has no version '7'.*versions are 1"):
        Environment.get(ws, name, version="7")
    with pytest.raises(UserErrorException, match="reserved for curated environments"):
        Environment("AzureML-Minimal").register(ws)
    with pytest.raises(UserErrorException, match="environment name 'bad name!' is invalid"):
        Environment("bad name!").register(ws)


def test_curated_environment_names_use_the_node_interpreter(ws: Workspace) -> None:
    env = Environment.get(ws, name="AzureML-TensorFlow-1.13-GPU")
    assert env.name == "AzureML-TensorFlow-1.13-GPU"
    assert env.python.user_managed_dependencies is True
    with pytest.raises(UserErrorException, match="has no version|is not registered"):
        Environment.get(ws, name="AzureML-Minimal", version="3")


def test_cli_lists_and_shows_environments(ws: Workspace, tf_home: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
    env.register(ws)
    listed = cli(tf_home, "environment", "list", "-w", ws.name)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert name in listed.stdout and "tabulate" in listed.stdout
    shown = cli(tf_home, "environment", "show", name, "-w", ws.name)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    data = json.loads(shown.stdout)
    assert data["version"] == "1"
    assert {"pip": ["tabulate"]} in data["python"]["conda_dependencies"]["dependencies"]
    missing = cli(tf_home, "environment", "show", "no-such-env", "-w", ws.name)
    assert missing.returncode == 1 and "no-such-env" in missing.stderr
