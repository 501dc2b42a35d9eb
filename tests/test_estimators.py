"""Estimators and distributed configurations: the SDK's arguments, defaults and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainforge.core import ScriptRunConfig
from trainforge.core.runconfig import MpiConfiguration, TensorflowConfiguration
from trainforge.core.script_run import definition_of
from trainforge.exceptions import RunConfigurationException, TrainingException
from trainforge.train.dnn import Chainer, Gloo, Nccl, ParameterServer, PyTorch, TensorFlow
from trainforge.train.estimator import Estimator, Mpi
from trainforge.train.sklearn import SKLearn


def test_chainer_runs_over_mpi_only(tmp_path: Path) -> None:
    chainer = Chainer(
        str(tmp_path), entry_script="train.py", node_count=2, distributed_backend="mpi"
    )
    config = chainer.run_config
    assert (config.framework, config.communicator, config.node_count) == ("Chainer", "IntelMpi", 2)
    assert chainer.framework_version == "5.1.0"
    assert Chainer.get_supported_versions() == ["5.1.0", "7.0.0"]
    with pytest.raises(
        TrainingException,
        match=r"distributed_backend: Chainer does not support 'gloo'; supported: 'mpi'",
    ):
        Chainer(str(tmp_path), node_count=2, distributed_training=Gloo())


def test_sklearn_is_single_node_cpu(tmp_path: Path) -> None:
    sk = SKLearn(str(tmp_path), entry_script="train.py", script_params={"--alpha": 0.5})
    assert sk.framework_version == "0.20.3"
    assert SKLearn.get_supported_versions() == ["0.20.3"]
    assert sk.run_config.arguments == ["--alpha", 0.5]
    assert (sk.run_config.node_count, sk.run_config.communicator) == (1, "None")
    for name, value in [
        ("node_count", 2),
        ("process_count_per_node", 2),
        ("distributed_backend", "mpi"),
        ("distributed_training", Mpi()),
        ("use_gpu", True),
    ]:
        with pytest.raises(
            TrainingException, match=rf"^{name}: SKLearn supports single-node CPU training only"
        ):
            SKLearn(str(tmp_path), entry_script="train.py", **{name: value})


def test_backend_strings_and_objects_per_estimator(tmp_path: Path) -> None:
    with pytest.raises(
        TrainingException, match=r"PyTorch does not support 'ps'; supported: 'mpi', 'gloo', 'nccl'"
    ):
        PyTorch(str(tmp_path), node_count=2, distributed_backend="ps")
    with pytest.raises(TrainingException, match=r"TensorFlow does not support 'nccl'"):
        TensorFlow(str(tmp_path), node_count=2, distributed_training=Nccl())
    with pytest.raises(
        TrainingException, match=r"Estimator does not support 'ps'; supported: 'mpi'"
    ):
        Estimator(str(tmp_path), distributed_training=ParameterServer())
    with pytest.raises(TrainingException, match=r"not both"):
        PyTorch(str(tmp_path), distributed_backend="gloo", distributed_training=Gloo())
    with pytest.raises(
        TrainingException,
        match=r"distributed_training: dict is not a distributed training configuration",
    ):
        PyTorch(str(tmp_path), distributed_training={"backend": "gloo"})
    with pytest.raises(TrainingException, match=r"^distributed_backend: required when node_count"):
        Estimator(str(tmp_path), node_count=2)

    mpi = Estimator(
        str(tmp_path), entry_script="train.py", distributed_training=Mpi(process_count_per_node=2)
    )
    definition = definition_of(mpi.run_config, "train.py")
    assert (definition.communicator, definition.process_count_per_node) == ("IntelMpi", 2)
    core_mpi = Estimator(str(tmp_path), node_count=2, distributed_training=MpiConfiguration(3))
    assert definition_of(core_mpi.run_config, "train.py").process_count_per_node == 3
    gloo = PyTorch(
        str(tmp_path), node_count=2, process_count_per_node=2, distributed_backend="Gloo"
    )
    assert (gloo.run_config.communicator, gloo.run_config.pytorch.process_count) == ("Gloo", 4)


def test_tensorflow_parameter_server_settings(tmp_path: Path) -> None:
    tf = TensorFlow(
        str(tmp_path),
        entry_script="train.py",
        node_count=2,
        worker_count=2,
        parameter_server_count=1,
        distributed_backend="ps",
    )
    definition = definition_of(tf.run_config, "train.py")
    assert (definition.framework, definition.communicator) == ("TensorFlow", "ParameterServer")
    assert (definition.node_count, definition.worker_count, definition.parameter_server_count) == (
        2,
        2,
        1,
    )
    core = TensorFlow(str(tmp_path), distributed_training=TensorflowConfiguration(3, 2))
    assert definition_of(core.run_config, "train.py").worker_count == 3
    with pytest.raises(
        TrainingException, match=r"^worker_count: must be an integer of at least 1, got 0"
    ):
        ParameterServer(worker_count=0)
    with pytest.raises(
        TrainingException,
        match=r"^parameter_server_count: must be an integer of at least 0, got -1",
    ):
        TensorFlow(str(tmp_path), parameter_server_count=-1, distributed_backend="ps")


def test_script_run_config_distributed_job_configs(tmp_path: Path) -> None:
    src = ScriptRunConfig(
        str(tmp_path),
        script="train.py",
        distributed_job_config=TensorflowConfiguration(worker_count=3, parameter_server_count=0),
    )
    definition = definition_of(src.run_config, "train.py")
    assert (definition.node_count, definition.worker_count, definition.parameter_server_count) == (
        3,
        3,
        0,
    )
    assert definition.communicator == "ParameterServer"
    mpi = ScriptRunConfig(
        str(tmp_path), script="train.py", distributed_job_config=MpiConfiguration(2, 2)
    )
    assert (mpi.run_config.framework, mpi.run_config.communicator, mpi.run_config.node_count) == (
        "Python",
        "IntelMpi",
        2,
    )
    with pytest.raises(
        RunConfigurationException, match=r"^worker_count: must be an integer of at least 1, got 0"
    ):
        TensorflowConfiguration(worker_count=0)
    with pytest.raises(
        RunConfigurationException,
        match=r"^process_count_per_node: must be an integer of at least 1",
    ):
        MpiConfiguration(process_count_per_node=0)
    with pytest.raises(
        RunConfigurationException, match=r"distributed_job_config: Gloo is not supported"
    ):
        ScriptRunConfig(str(tmp_path), script="train.py", distributed_job_config=Gloo())
