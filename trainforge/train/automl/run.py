"""AutoMLRun (``azureml.train.automl.run.AutoMLRun``): the parent run of an AutoML
experiment, whose children ``<id>_<i>`` are its iterations, and the best of them."""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainforge.automl.core.shared.constants import MODEL_PATH, MODEL_PATH_ONNX
from trainforge.automl.names import goal
from trainforge.client.api import api
from trainforge.client.api.automl import AutoMLApi
from trainforge.client.errors import sdk_errors
from trainforge.client.log_stream import LONG_POLL_S
from trainforge.core.run import Run, get_run, run_of, submitting_user
from trainforge.schemas.runs import RunStatus
from trainforge.train.automl import _driver
from trainforge.train.automl.exceptions import AutoMLException, ConfigException

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment
    from trainforge.schemas.automl import AutoMLSettings
    from trainforge.train.automl.automlconfig import AutoMLConfig

MODEL_FILE = MODEL_PATH
DRIVER = "automl_driver.py"
BANNER = "*" * 100
LEGEND = [
    BANNER,
    "ITERATION: The iteration being evaluated.",
    "PIPELINE: A summary description of the pipeline being evaluated.",
    "DURATION: Time taken for the current iteration.",
    "METRIC: The result of computing score on the fitted pipeline.",
    "BEST: The best observed score thus far.",
    BANNER,
    "",
    f" {'ITERATION':>9}   {'PIPELINE':<45}  {'DURATION':>10}  {'METRIC':>10}  {'BEST':>8}",
]


def _frame(data: Any) -> Any:
    """A DataFrame as given, or the rows of a TabularDataset (read where it is submitted)."""
    return data.to_pandas_dataframe() if hasattr(data, "to_pandas_dataframe") else data


def _held_out(training: Any, label: str, task: str, fraction: float) -> tuple[Any, Any]:
    """``test_size``: the rows held out for the test run (stratified by class where each
    class has two rows), and the rest to train on."""
    from sklearn.model_selection import train_test_split

    classes = training[label].value_counts()
    stratify = training[label] if task == "classification" and classes.min() >= 2 else None
    kept, held = train_test_split(training, test_size=fraction, random_state=0, stratify=stratify)
    return kept, held


def xy_frame(X: Any, y: Any, label: str | None) -> tuple[Any, str]:
    """The 2019 SDK's X/y as one frame with the label (``label``, else ``y``) as its last
    column, and the label's name."""
    import pandas as pd

    frame = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    frame.columns = [str(c) for c in frame.columns]
    name = label or "y"
    frame[name] = list(y.values.ravel() if hasattr(y, "values") else y)
    return frame, name


def prepare_automl(config: AutoMLConfig, folder: Path) -> tuple[AutoMLSettings, str]:
    """Write what an AutoML run's iterations read into ``folder`` (the iteration script,
    ``automl_settings.json``, the training and validation data) and check the data; the
    run's settings and the compute target's name. ``experiment.submit`` and an AutoMLStep
    both start here."""
    from trainforge.automl.guardrails import DataProblem, data_settings
    from trainforge.data.output_dataset_config import is_step_output_table
    from trainforge.schemas.automl import AutoMLSettings, Guardrail

    label = config.label_column_name
    assert label is not None
    upstream = is_step_output_table(config.training_data)
    upstream_validation = is_step_output_table(config.validation_data)
    training = None if upstream else _frame(config.training_data)
    test = _frame(config.test_data) if config.test_data is not None else None
    if config.test_size is not None and training is not None:
        training, test = _held_out(training, label, config.task, config.test_size)
    # Another step's output: its shape and guardrails are read when the step starts.
    shape: dict[str, Any] = {"rows": None, "columns": None, "guardrails": []}
    if training is not None:
        try:
            shape = data_settings(training, label, config.task)
        except DataProblem as problem:
            raise ConfigException(
                f"Invalid argument(s) '{problem.argument}' specified: {problem.value}. "
                f"Supported value(s): {problem.supported}."
            ) from None
    validation = (
        _frame(config.validation_data)
        if config.validation_data is not None and not upstream_validation
        else None
    )
    target = config.compute_target
    target_name = getattr(target, "name", target) or "local"
    shutil.copyfile(_driver.__file__, folder / DRIVER)
    settings: dict[str, Any] = {
        "task": config.task,
        "label_column_name": label,
        "primary_metric": config.primary_metric,
        "n_cross_validations": config.n_cross_validations,
        "validation_size": config.validation_size,
        "featurization": config.featurization_settings,
        "model_explainability": config.model_explainability,
        "enable_onnx_compatible_models": config.enable_onnx_compatible_models,
        "weight_column_name": config.weight_column_name,
        "cv_split_column_names": config.cv_split_column_names,
        # A label as JSON holds it (a numpy number from a DataFrame becomes a Python one).
        "positive_label": getattr(config.positive_label, "item", lambda: config.positive_label)(),
    }
    series = config.forecasting_parameters
    if series is not None:
        settings |= {
            "time_column_name": series.time_column_name,
            "forecast_horizon": series.forecast_horizon,
            "time_series_id_column_names": series.time_series_id_column_names,
        }
    (folder / _driver.SETTINGS).write_text(json.dumps(settings))
    if training is not None:
        training.to_pickle(folder / _driver.TRAINING)
    if validation is not None:
        validation.to_pickle(folder / _driver.VALIDATION)
    if test is not None:
        test.to_pickle(folder / _driver.TEST)
    request = AutoMLSettings(
        task=config.task,
        primary_metric=config.primary_metric,
        learners=config.learners,
        rows=shape["rows"],
        columns=shape["columns"],
        label_column_name=label,
        training_input=_driver.TRAINING_INPUT if upstream else None,
        validation_input=_driver.VALIDATION_INPUT if upstream_validation else None,
        test_run=test is not None,
        iterations=config.iterations,
        max_concurrent_iterations=config.max_concurrent_iterations,
        experiment_timeout_minutes=config.experiment_timeout_minutes,
        iteration_timeout_minutes=config.iteration_timeout_minutes,
        experiment_exit_score=config.experiment_exit_score,
        enable_early_stopping=config.enable_early_stopping,
        enable_voting_ensemble=config.enable_voting_ensemble,
        enable_stack_ensemble=config.enable_stack_ensemble,
        guardrails=[Guardrail.model_validate(g) for g in shape["guardrails"]],
    )
    return request, str(target_name)


def submit(
    config: AutoMLConfig,
    experiment: Experiment,
    tags: dict[str, str] | None = None,
    show_output: bool = False,
    **kwargs: Any,
) -> AutoMLRun:
    """``experiment.submit(automl_config)``: snapshot the data, settings and iteration script,
    create the AutoML run; the control plane proposes and runs the iterations."""
    from trainforge.core._tags import sanitize
    from trainforge.core.runconfig import RunConfiguration
    from trainforge.core.script_run import prepare
    from trainforge.data.output_dataset_config import is_step_output_table
    from trainforge.schemas.automl import AutoMLCreate

    for argument in ("training_data", "validation_data"):
        if is_step_output_table(getattr(config, argument)):
            raise ConfigException(
                f"Invalid argument(s) '{argument}' specified: another pipeline step's output. "
                "Supported value(s): a pandas DataFrame or TabularDataset (another step's "
                "output is read by an AutoMLStep in that pipeline)."
            )
    with tempfile.TemporaryDirectory(prefix="automl-") as folder:
        settings, target_name = prepare_automl(config, Path(folder))
        run_config = RunConfiguration()
        run_config.script = DRIVER
        run_config.target = target_name
        definition, snapshot_id = prepare(experiment, folder, run_config)
    request = AutoMLCreate(
        **settings.model_dump(),
        definition=definition,
        snapshot_id=snapshot_id,
        tags=sanitize(tags or {}),
        submitted_by=submitting_user(),
    )
    with sdk_errors():
        info = api(experiment.workspace, AutoMLApi).create(experiment.name, request)
    run = run_of(experiment, info)
    assert isinstance(run, AutoMLRun)
    if show_output:
        run.wait_for_completion(show_output=True)
    return run


class AutoMLRun(Run):
    """A submitted AutoML experiment (``run.type == 'automl'``).

    Its children ``<id>_0``, ``<id>_1``, ... are the iterations, each an ordinary run on the
    compute target that fitted one pipeline FLAML proposed and logged the SDK's metrics.
    """

    RUN_TYPE = "automl"

    def __init__(self, experiment: Experiment, run_id: str, **kwargs: Any) -> None:
        super().__init__(experiment, run_id, **kwargs)
        self._output_logs_pattern = "azureml-logs/automl.txt"

    def _automl(self) -> Any:
        with sdk_errors():
            return api(self.experiment.workspace, AutoMLApi).get(self.id)

    def continue_experiment(
        self,
        X: Any = None,
        y: Any = None,
        sample_weight: Any = None,
        X_valid: Any = None,
        y_valid: Any = None,
        sample_weight_valid: Any = None,
        data: Any = None,
        label: str | None = None,
        columns: list[str] | None = None,
        cv_splits_indices: Any = None,
        spark_context: Any = None,
        experiment_timeout_hours: float | None = None,
        experiment_exit_score: float | None = None,
        iterations: int | None = None,
        show_output: bool = False,
        training_data: Any = None,
        validation_data: Any = None,
        **kwargs: Any,
    ) -> AutoMLRun:
        """Continue this AutoML experiment with ``iterations`` more iterations (default: as
        many as it had); the AutoML run that does it comes back.

        The training data (``training_data``, or the older ``X``/``y`` and ``data``/``label``)
        and the validation data (``validation_data`` or ``X_valid``/``y_valid``) replace this
        run's when given; ``experiment_timeout_hours`` (or ``experiment_timeout_minutes``)
        and ``experiment_exit_score`` replace its budgets; every other setting is this run's.
        With ``show_output`` it waits, printing the iterations as they finish.

        Different from Azure ML, where the same parent run is reopened and goes on: a run
        that has ended is never written to again here, so the continuation is a new AutoML
        run in the same experiment. Its property ``azureml.automl.continued_run_id`` names
        this run; its search starts from this run's (FLAML's searcher as it stopped, so no
        pipeline is tried twice, and this run's iterations with their scores, so
        ``get_output()`` returns this run's best while nothing beats it); its own children
        ``<new id>_<i>`` are numbered after this run's iterations. This run must have ended
        (wait for it, or cancel it, first); it stays as it was.
        """
        from trainforge.schemas.automl import AutoMLContinue

        unsupported = {
            "sample_weight": sample_weight,
            "sample_weight_valid": sample_weight_valid,
            "cv_splits_indices": cv_splits_indices,
            "spark_context": spark_context,
        }
        for name, value in unsupported.items():
            if value is not None:
                raise ConfigException(
                    f"Invalid argument(s) '{name}' specified: continue_experiment keeps the "
                    f"continued run's setting. Supported value(s): None."
                )
        minutes = kwargs.pop("experiment_timeout_minutes", None)
        if kwargs:
            raise ConfigException(
                f"Invalid argument(s) {sorted(kwargs)} specified: not arguments of "
                "continue_experiment."
            )
        if experiment_timeout_hours is not None:
            minutes = experiment_timeout_hours * 60
        if iterations is not None and (
            not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1
        ):
            raise ConfigException(
                f"Invalid argument(s) 'iterations' specified: {iterations!r}. "
                "Supported value(s): a positive int."
            )
        if data is not None and label is not None and X is None:
            frame = _frame(data)
            X, y = frame.drop(columns=[label]), frame[label]
            if columns is not None:
                X = X[columns]
        body: dict[str, Any] = {}
        if any(v is not None for v in (X, training_data, X_valid, validation_data)):
            body = self._new_data(X, y, X_valid, y_valid, training_data, validation_data)
        request = AutoMLContinue(
            iterations=iterations,
            experiment_timeout_minutes=minutes,
            experiment_exit_score=experiment_exit_score,
            submitted_by=submitting_user(),
            **body,
        )
        with sdk_errors():
            info = api(self.experiment.workspace, AutoMLApi).continue_run(self.id, request)
        run = run_of(self.experiment, info)
        assert isinstance(run, AutoMLRun)
        if show_output:
            run.wait_for_completion(show_output=True)
        return run

    def _new_data(
        self,
        X: Any,
        y: Any,
        X_valid: Any,
        y_valid: Any,
        training_data: Any,
        validation_data: Any,
    ) -> dict[str, Any]:
        """A snapshot of this run's with the training (and validation) data replaced, and
        the new data's shape and guardrails."""
        import io
        import zipfile

        from trainforge.automl.guardrails import DataProblem, data_settings
        from trainforge.client.api.snapshots import SnapshotsApi
        from trainforge.core.run import upload_snapshot

        snapshot_id = self.get_details().get("properties", {}).get("ContentSnapshotId")
        if not snapshot_id:
            raise AutoMLException(f"AutoML run {self.id} has no snapshot to continue from")
        with sdk_errors():
            content = b"".join(api(self.experiment.workspace, SnapshotsApi).download(snapshot_id))
        with tempfile.TemporaryDirectory(prefix="automl-continue-") as folder:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                archive.extractall(folder)
            here = Path(folder)
            settings = json.loads((here / _driver.SETTINGS).read_text())
            label, task = settings["label_column_name"], settings["task"]
            if training_data is None and X is not None:
                if y is None:
                    raise ConfigException(
                        "Invalid argument(s) 'y' specified: None. Supported value(s): the "
                        "labels of X."
                    )
                training_data, _ = xy_frame(X, y, label)
            if validation_data is None and X_valid is not None:
                validation_data, _ = xy_frame(X_valid, y_valid, label)
            if training_data is None:
                raise ConfigException(
                    "Invalid argument(s) 'validation_data' specified: new validation data "
                    "needs the training data given again. Supported value(s): "
                    "training_data (or X and y) with it."
                )
            frame = _frame(training_data)
            try:
                shape = data_settings(frame, label, task)
            except DataProblem as problem:
                raise ConfigException(
                    f"Invalid argument(s) '{problem.argument}' specified: {problem.value}. "
                    f"Supported value(s): {problem.supported}."
                ) from None
            frame.to_pickle(here / _driver.TRAINING)
            if validation_data is not None:
                _frame(validation_data).to_pickle(here / _driver.VALIDATION)
            snapshot = upload_snapshot(self.experiment.workspace, folder)
        return {
            "snapshot_id": snapshot,
            "rows": shape["rows"],
            "columns": shape["columns"],
            "guardrails": shape["guardrails"],
        }

    def cancel(self) -> None:
        """Cancel the AutoML run and every iteration still queued or running."""
        with sdk_errors():
            self._info = api(self.experiment.workspace, AutoMLApi).cancel(self.id)

    def cancel_iteration(self, iteration: int) -> None:
        """Cancel one iteration; the search goes on with the others."""
        if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
            raise AutoMLException(f"iteration: expected a non-negative int, got {iteration!r}")
        with sdk_errors():
            api(self.experiment.workspace, AutoMLApi).cancel_iteration(self.id, iteration)

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> dict[str, Any]:
        """Block until the AutoML run ends; with ``show_output`` print the SDK's table of
        iterations (ITERATION, PIPELINE, DURATION, METRIC, BEST) as they finish."""
        if not show_output:
            return super().wait_for_completion(False, wait_post_processing, raise_on_error)
        print(f"Current status: {self.get_status()}")
        for line in LEGEND:
            print(line)
        shown: set[int] = set()
        while True:
            state = self._automl()
            for child in state.children:
                if child.iteration in shown or not RunStatus(child.status).is_terminal:
                    continue
                shown.add(child.iteration)
                print(self._row(child, state), flush=True)
            if RunStatus(state.status).is_terminal:
                break
            with sdk_errors():
                self._runs.wait(self.id, timeout=LONG_POLL_S)
        return super().wait_for_completion(False, wait_post_processing, raise_on_error)

    @staticmethod
    def _row(child: Any, state: Any) -> str:
        seconds = 0
        if child.start_time_utc and child.end_time_utc:
            seconds = int((child.end_time_utc - child.start_time_utc).total_seconds())
        duration = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        metric = f"{child.score:.4f}" if child.score is not None else "nan"
        ended = [
            c.score
            for c in state.children
            if c.score is not None and c.iteration <= child.iteration
        ]
        pick = max if state.goal == "maximize" else min
        best = f"{pick(ended):.4f}" if ended else "nan"
        pipeline = f"ColumnTransformer {child.run_algorithm}"
        if child.status != RunStatus.COMPLETED:
            pipeline += f" ({child.status})"
        return f" {child.iteration:>9}   {pipeline:<45}  {duration:>10}  {metric:>10}  {best:>8}"

    def get_guardrails(self, to_console: bool = True) -> dict[str, Any]:
        """The data guardrails of this run's training data (class balance, missing values,
        high cardinality); printed as the SDK prints them unless ``to_console`` is False."""
        checks = [g.model_dump() for g in self._automl().guardrails]
        if to_console:
            print("#" * 100)
            print("DATA GUARDRAILS: ")
            for check in checks:
                print(f"\nTYPE:         {check['type']}")
                print(f"STATUS:       {check['status'].upper()}")
                print(f"DESCRIPTION:  {check['description']}")
                print("\n" + "*" * 100)
            print("#" * 100)
        return {"schema_type": "data_guardrails", "schema_version": "1.0.0", "data": checks}

    def summary(self) -> list[dict[str, Any]]:
        """Per algorithm: how many iterations tried it and its best score."""
        state = self._automl()
        rows: dict[str, dict[str, Any]] = {}
        pick = max if state.goal == "maximize" else min
        for child in state.children:
            row = rows.setdefault(
                child.run_algorithm,
                {"algorithm": child.run_algorithm, "iterations": 0, "best_score": None},
            )
            row["iterations"] += 1
            if child.score is not None:
                best = row["best_score"]
                row["best_score"] = child.score if best is None else pick(best, child.score)
        return list(rows.values())

    def get_best_child(
        self, metric: str | None = None, onnx_compatible: bool = False, **kwargs: Any
    ) -> Run:
        """The completed iteration with the best ``metric`` (default: the primary metric)."""
        return self._best(None, metric)

    def _best(self, iteration: int | None, metric: str | None) -> Run:
        state = self._automl()
        completed = [c for c in state.children if c.status == RunStatus.COMPLETED]
        if iteration is not None:
            found = [c for c in state.children if c.iteration == iteration]
            if not found:
                raise AutoMLException(f"iteration: this AutoML run has no iteration {iteration}")
            if found[0].status != RunStatus.COMPLETED:
                raise AutoMLException(
                    f"iteration: iteration {iteration} did not complete ({found[0].status})"
                )
            return get_run(self._workspace, found[0].run_id, self._experiment)
        if (metric is None or metric == state.primary_metric) and state.best_run_id is not None:
            # The control plane's pick (the first to reach the best score), the one an
            # AutoMLStep's default model output holds.
            return get_run(self._workspace, state.best_run_id, self._experiment)
        if metric is None or metric == state.primary_metric:
            scored = [c for c in completed if c.score is not None]
            values = {c.run_id: c.score for c in scored}
            maximize = state.goal == "maximize"
        else:
            found_metrics = Run.get_metrics(self, recursive=True)
            values = {}
            for c in completed:
                value = found_metrics.get(c.run_id, {}).get(metric)
                value = value[-1] if isinstance(value, list) else value
                if isinstance(value, int | float):
                    values[c.run_id] = float(value)
            maximize = goal(metric) == "maximize"
        if not values:
            raise AutoMLException(
                f"No completed iteration of AutoML run {self.id} logged "
                f"{metric or state.primary_metric}"
            )
        pick = max if maximize else min
        best = pick(values, key=values.__getitem__)
        return get_run(self._workspace, best, self._experiment)

    def get_output(
        self,
        iteration: int | None = None,
        metric: str | None = None,
        return_onnx_model: bool = False,
        return_split_onnx_model: Any = None,
        **kwargs: Any,
    ) -> tuple[Run, Any]:
        """``(best_run, fitted_model)``: the best iteration (or ``iteration``, or the best by
        ``metric``) and its fitted pipeline, loaded from its ``outputs/model.pkl``."""
        if iteration is not None and metric is not None:
            raise ConfigException(
                "Invalid argument(s) 'iteration' specified: give iteration or metric, not both."
            )
        best = self._best(iteration, metric)
        if return_onnx_model:
            return best, self._onnx_model(best)
        with tempfile.TemporaryDirectory(prefix="automl-model-") as folder:
            path = Path(folder) / "model.pkl"
            best.download_file(MODEL_FILE, str(path))
            with open(path, "rb") as f:
                model = pickle.load(f)  # noqa: S301 - this run's own output
        return best, model

    @staticmethod
    def _onnx_model(best: Run) -> Any:
        """The iteration's ``outputs/model.onnx`` as an ``onnx.ModelProto``."""
        if MODEL_PATH_ONNX not in best.get_file_names():
            raise ConfigException(
                "Invalid argument(s) 'return_onnx_model' specified: iteration "
                f"{best.id} saved no ONNX model (submit with enable_onnx_compatible_models="
                "True; its log says why a pipeline had none)."
            )
        import onnx

        with tempfile.TemporaryDirectory(prefix="automl-onnx-") as folder:
            path = Path(folder) / "model.onnx"
            best.download_file(MODEL_PATH_ONNX, str(path))
            return onnx.load_model(str(path))

    def register_model(  # type: ignore[override]
        self,
        model_name: str | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        iteration: int | None = None,
        metric: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Register the best iteration's ``outputs/model.pkl`` (or ``iteration``'s, or the
        best by ``metric``) as the next version of ``model_name`` (default: from the run id)."""
        best = self._best(iteration, metric)
        name = model_name or "".join(ch for ch in best.id if ch.isalnum())[:30]
        model = best.register_model(name, MODEL_FILE, tags=tags, description=description, **kwargs)
        self.model_id = model.name
        return model


Run.add_type_provider(AutoMLRun.RUN_TYPE, AutoMLRun)
