"""The script of every AutoML iteration (copied into the AutoML run's snapshot as
``automl_driver.py``): fit the learner and config the control plane proposed, log the
SDK's metrics, save the fitted pipeline as ``outputs/model.pkl``.

Arguments: ``--iteration i --learner <FLAML learner> --config <JSON> --estimator
<module.Class> --params <JSON>`` (the class and parameters FLAML derives from the config); the settings and
data come from the snapshot (``automl_settings.json``, ``training_data.pkl``,
``validation_data.pkl``), or, in an AutoMLStep reading other steps' outputs, from the
run's dataset inputs ``training_data`` and ``validation_data``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

SETTINGS = "automl_settings.json"
TRAINING = "training_data.pkl"
VALIDATION = "validation_data.pkl"
# In an AutoMLStep on other steps' outputs: the dataset inputs the data comes from.
TRAINING_INPUT = "training_data"
VALIDATION_INPUT = "validation_data"


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from trainforge.automl.trial import Settings, run_iteration
    from trainforge.core.run import Run

    parser = argparse.ArgumentParser()
    parser.add_argument("--iteration", type=int, required=True)
    parser.add_argument("--learner", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--estimator", required=True)
    parser.add_argument("--params", required=True)
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    settings = Settings.from_json(json.loads((here / SETTINGS).read_text()))
    run = Run.get_context()
    if (here / TRAINING).exists():
        training = pd.read_pickle(here / TRAINING)
    else:  # an upstream step's output, this run's dataset input
        training = run.input_datasets[TRAINING_INPUT].to_pandas_dataframe()
    validation = None
    if (here / VALIDATION).exists():
        validation = pd.read_pickle(here / VALIDATION)
    elif VALIDATION_INPUT in run.input_datasets:
        validation = run.input_datasets[VALIDATION_INPUT].to_pandas_dataframe()
    config = json.loads(args.config)
    print(f"Iteration {args.iteration}: {args.learner} {json.dumps(config)}", flush=True)
    result = run_iteration(settings, args.estimator, json.loads(args.params), training, validation)
    print(f"Validation: {result.validation}", flush=True)
    for name, value in sorted(result.metrics.items()):
        run.log(name, value)
    os.makedirs("outputs", exist_ok=True)
    with open(os.path.join("outputs", "model.pkl"), "wb") as f:
        pickle.dump(result.model, f)
    for name, value in result.files.items():
        Path("outputs", f"{name}.json").write_text(json.dumps(value))
    if result.onnx is not None:
        Path("outputs", "model.onnx").write_bytes(result.onnx)
    elif result.onnx_error is not None:
        print(f"No ONNX model: the converters refused this pipeline ({result.onnx_error})")
    run.flush()
    print(f"{settings.primary_metric}: {result.metrics.get(settings.primary_metric)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
