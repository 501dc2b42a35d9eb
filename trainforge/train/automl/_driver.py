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
TEST = "test_data.pkl"
# The test run's predictions, where the SDK's test run puts them.
PREDICTIONS = "predictions/predictions.csv"
# In an AutoMLStep on other steps' outputs: the dataset inputs the data comes from.
TRAINING_INPUT = "training_data"
VALIDATION_INPUT = "validation_data"


def test_model(model_run_id: str) -> None:
    """The test run of the best model (``test_data``/``test_size``): its predictions on the
    test rows and the SDK's metrics of them."""
    import tempfile

    import numpy as np
    import pandas as pd

    from trainforge.automl.metrics import classification_metrics, regression_metrics
    from trainforge.automl.trial import Settings
    from trainforge.core.run import Run

    here = Path(__file__).resolve().parent
    settings = Settings.from_json(json.loads((here / SETTINGS).read_text()))
    run = Run.get_context()
    test = pd.read_pickle(here / TEST)
    label = settings.label_column_name
    aside = [c for c in [settings.weight_column_name, *settings.cv_split_column_names] if c]
    X = test.drop(columns=[label, *aside], errors="ignore")
    truth = test[label]
    weights = test[settings.weight_column_name] if settings.weight_column_name in test else None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pkl"
        Run(run.experiment, model_run_id).download_file("outputs/model.pkl", str(path))
        with open(path, "rb") as f:
            model = pickle.load(f)  # noqa: S301 - the best iteration's own model
    print(f"Testing the model of {model_run_id} on {len(test)} rows", flush=True)
    predicted = model.predict(X)
    if settings.task == "classification":
        proba = np.asarray(model.predict_proba(X))
        metrics = classification_metrics(
            truth, predicted, proba, model.classes_, weights, settings.positive_label
        )
    else:
        metrics = regression_metrics(truth, predicted, weights)
    for name, value in sorted(metrics.items()):
        if value == value:  # NaN (a metric one class cannot have) is not logged
            run.log(name, value)
    table = X.assign(**{label: truth, "predicted": predicted})
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "predictions.csv"
        table.to_csv(out, index=False)
        run.upload_file(PREDICTIONS, str(out))
    run.flush()


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from trainforge.automl.trial import Settings, run_iteration
    from trainforge.core.run import Run

    if argv and "--test" in argv:
        test_model(argv[argv.index("--model-run") + 1])
        return
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
