"""HyperDrive: hyperparameter sweeps, as ``azureml.train.hyperdrive``.

``experiment.submit(HyperDriveConfig(...))`` returns a HyperDriveRun; the sweep itself runs
in the control plane, so it outlives the submitting process.
"""

from trainforge.train.hyperdrive.exceptions import (
    HyperDriveConfigException,
    HyperDriveException,
    HyperDriveNotImplementedException,
)
from trainforge.train.hyperdrive.parameter_expressions import (
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from trainforge.train.hyperdrive.policy import (
    ASHAPolicy,
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)
from trainforge.train.hyperdrive.run import HyperDriveRun
from trainforge.train.hyperdrive.runconfig import (
    HyperDriveConfig,
    HyperDriveRunConfig,
    PrimaryMetricGoal,
)
from trainforge.train.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
)

__all__ = [
    "ASHAPolicy",
    "BanditPolicy",
    "BayesianParameterSampling",
    "EarlyTerminationPolicy",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveConfigException",
    "HyperDriveException",
    "HyperDriveNotImplementedException",
    "HyperDriveRun",
    "HyperDriveRunConfig",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
