"""The Batch AI samples' ``utilities`` package (``import utilities as utils``), written from
its documented behaviour: ``config`` (configuration.json, the client), ``cluster``
(status), ``job`` (waiting, streaming a log), ``dataset`` (MNIST to a blob container) and
``experiment`` (many jobs at once)."""

from __future__ import annotations

from trainforge.batchai.utilities import cluster, config, dataset, experiment, job

__all__ = ["cluster", "config", "dataset", "experiment", "job"]
