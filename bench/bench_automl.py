"""Automated ML: trainforge's AutoML next to FLAML's own ``AutoML.fit`` with the same time
budget on the same data, in the same run, and a plain scikit-learn ``GridSearchCV``.

The data: scikit-learn's breast cancer set (569 rows, 30 features, binary), split once
(seeded) into training and validation rows; every tool is scored by accuracy on the same
validation rows.

- trainforge: ``AutoMLConfig(validation_data=..., experiment_timeout_minutes=budget,
  max_concurrent_iterations=2)`` on the 'local' target: each iteration a child run (a
  launcher and a fresh Python process), FLAML's CFO proposing on the control plane;
- FLAML: ``AutoML().fit(X_val=..., time_budget=budget, n_concurrent_trials=1)`` in this
  process, with the same learners: the search without trainforge's runs around it;
- GridSearchCV: a random forest over a 12-point grid, 3-fold, refitted, no budget.

The ratio of best accuracies says what the runs cost in search quality within the budget;
the iteration counts say what each iteration's process and run bookkeeping cost.
"""

from __future__ import annotations

import time
from typing import Any

from _common import Row, progress, quiet_call, trainforge_home

LEARNERS_SDK = ["LightGBM", "RandomForest", "ExtremeRandomTrees", "LogisticRegression"]
LEARNERS_FLAML = ["lgbm", "rf", "extra_tree", "lrl2"]


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, valid = train_test_split(
        frame, test_size=0.25, random_state=2026, stratify=frame["target"]
    )
    return train, valid


def _trainforge(train: Any, valid: Any, budget_s: float) -> dict[str, Any]:
    from trainforge.core import Experiment, Workspace
    from trainforge.train.automl import AutoMLConfig

    with trainforge_home("automl"):
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        config = AutoMLConfig(
            task="classification",
            primary_metric="accuracy",
            training_data=train,
            validation_data=valid,
            label_column_name="target",
            iterations=1000,
            max_concurrent_iterations=2,
            experiment_timeout_minutes=budget_s / 60,
            enable_early_stopping=False,
            allowed_models=LEARNERS_SDK,
        )
        start = time.perf_counter()
        run = Experiment(ws, "bench-automl").submit(config)
        run.wait_for_completion()
        wall = time.perf_counter() - start
        state = run._automl()
        completed = [c for c in state.children if c.status == "Completed"]
        best_run, model = run.get_output()
        X, y = valid.drop(columns=["target"]), valid["target"]
        return {
            "wall_s": wall,
            "best": state.best_score,
            "iterations": len(completed),
            "refit_check": float((model.predict(X) == y).mean()),
        }


def _flaml(train: Any, valid: Any, budget_s: float) -> dict[str, Any]:
    from flaml import AutoML

    automl = AutoML()
    start = time.perf_counter()
    automl.fit(
        train.drop(columns=["target"]),
        train["target"],
        X_val=valid.drop(columns=["target"]),
        y_val=valid["target"],
        task="classification",
        metric="accuracy",
        time_budget=budget_s,
        estimator_list=LEARNERS_FLAML,
        n_jobs=1,
        verbose=0,
    )
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "best": 1 - automl.best_loss,
        "iterations": len(automl.config_history),
    }


def _grid(train: Any, valid: Any) -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(
        RandomForestClassifier(random_state=0, n_jobs=1),
        {"n_estimators": [50, 100, 200], "max_depth": [None, 4, 8, 16]},
        cv=3,
    )
    start = time.perf_counter()
    grid.fit(train.drop(columns=["target"]), train["target"])
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "best": float(grid.score(valid.drop(columns=["target"]), valid["target"])),
        "iterations": len(grid.cv_results_["params"]),
    }


def run(quick: bool = False) -> list[Row]:
    budget_s = 30.0 if quick else 120.0
    train, valid = _data()
    progress(f"automl: trainforge AutoML, {budget_s:.0f} s budget")
    tf = _trainforge(train, valid, budget_s)
    progress(f"automl: FLAML AutoML.fit, {budget_s:.0f} s budget")
    fl = _flaml(train, valid, budget_s)
    progress("automl: GridSearchCV (random forest, 12 points, 3-fold)")
    gs = _grid(train, valid)
    note = f"breast cancer, {len(train)} training / {len(valid)} validation rows"
    return [
        Row(
            "automl: best validation accuracy vs FLAML",
            tf["best"],
            fl["best"],
            "accuracy",
            f"{note}; {budget_s:.0f} s budget each",
        ),
        Row(
            "automl: iterations in the budget vs FLAML",
            tf["iterations"],
            fl["iterations"],
            "iterations",
            "trainforge: completed child runs, 2 at once; FLAML: trials in-process",
        ),
        Row(
            "automl: wall time vs FLAML",
            tf["wall_s"],
            fl["wall_s"],
            "s",
            "submit to completed (trainforge) / fit (FLAML)",
            higher_is_better=False,
        ),
        Row(
            "automl: best validation accuracy vs GridSearchCV",
            tf["best"],
            gs["best"],
            "accuracy",
            f"GridSearchCV took {gs['wall_s']:.1f} s for {gs['iterations']} points x 3 folds",
        ),
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
