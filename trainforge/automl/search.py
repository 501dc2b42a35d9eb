"""FLAML's search over the learners of an AutoML run: which learner and hyperparameters
the next iteration fits.

This is what FLAML's own parallel search does (``AutoML._search_parallel``): one CFO
searcher over the joint space ``{"ml": choice([<learner space>, ...])}`` that FLAML's
``SearchState`` gives each learner for the data's size and task, starting from each
learner's low-cost initial point. The control plane keeps the searcher between passes as
its pickle in the store (``AutoMLSearch.state``), so a restarted control plane proposes
what it would have proposed; each proposal becomes a child run, and the child's result
goes back to the searcher as FLAML's ``val_loss`` (1 - score for a metric to maximize).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from trainforge.automl import names

# FLAML's name of the loss its searchers minimize, and of a trial's cost.
LOSS = "val_loss"
COST = "time_total_s"


class EngineMissing(RuntimeError):
    """FLAML is not installed where the search runs."""


def _flaml() -> Any:
    try:
        import flaml
    except ImportError:
        raise EngineMissing(
            "AutoML needs FLAML where the control plane runs: pip install 'trainforge[automl]'"
        ) from None
    return flaml


@dataclass
class Proposal:
    """One iteration's pipeline: a FLAML learner and its hyperparameters."""

    learner: str
    config: dict[str, Any]


class _Shape:
    """What FLAML's SearchState reads of the training data: its shape."""

    def __init__(self, rows: int, columns: int) -> None:
        self.shape = (rows, columns)


def new_search(task: str, learners: list[str], rows: int, columns: int, seed: int) -> bytes:
    """A fresh searcher for ``learners`` on data of ``rows`` x ``columns``, pickled."""
    flaml = _flaml()
    from flaml.automl.state import SearchState
    from flaml.automl.task.factory import task_factory

    tune = flaml.tune
    engine_task = task_factory(names.engine_task(task))
    classes = {name: engine_task.estimator_class_from_str(name) for name in learners}
    # budget >= 0: FLAML's cost-aware start (each learner's cost relative to LightGBM).
    states = {
        name: SearchState(  # type: ignore[no-untyped-call]
            learner_class=cls, data=_Shape(rows, columns), task=engine_task, budget=1
        )
        for name, cls in classes.items()
    }
    spaces: list[dict[str, Any]] = []
    low_cost: list[Any] = []
    cat_cost: list[Any] = []
    points: list[dict[str, Any]] = []
    for name in learners:
        state = states[name]
        space = dict(state.search_space)
        space["learner"] = name
        spaces.append(space)
        low_cost.append(state.low_cost_partial_config)
        cat_cost.append(state.cat_hp_cost)
        for start in state.init_config:
            points.append({"ml": {**start, "learner": name}})
    costs = [classes[name].cost_relative2lgbm() for name in learners]
    low_cost.append(min(range(len(costs)), key=costs.__getitem__))
    cat_cost.append(costs)
    searcher = flaml.CFO(
        metric=LOSS,
        mode="min",
        space={"ml": tune.choice(spaces)},
        low_cost_partial_config={"ml": low_cost},
        cat_hp_cost={"ml": cat_cost},
        points_to_evaluate=points,
        seed=seed,
        cost_attr=COST,
        allow_empty_config=True,
    )
    return pickle.dumps(searcher)


def load(state: bytes) -> Any:
    """The searcher of a stored state (``new_search``, ``dump``)."""
    _flaml()
    return pickle.loads(state)  # noqa: S301 - the control plane's own store


def dump(searcher: Any) -> bytes:
    return pickle.dumps(searcher)


def propose(searcher: Any, trial_id: str) -> Proposal | None:
    """The searcher's next pipeline; None: none for now (FLAML's CFO declines while it
    starts a local search, and for a config it has tried already)."""
    suggested = searcher.suggest(trial_id)
    if suggested is None:
        return None
    config = dict(suggested["ml"])
    learner = config.pop("learner")
    return Proposal(learner=learner, config=config)


def estimator_of(task: str, learner: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The estimator class (``module.Class``) and its parameters that FLAML's learner
    ``learner`` means for ``config``: what an iteration instantiates. Translated here, where
    FLAML is loaded already, so an iteration needs only scikit-learn and the learner's own
    package (importing FLAML takes seconds: it imports Ray when Ray is installed)."""
    _flaml()
    from flaml.automl.task.factory import task_factory

    engine_task = task_factory(names.engine_task(task))
    engine = engine_task.estimator_class_from_str(learner)(task=engine_task, n_jobs=1, **config)
    cls = engine.estimator_class
    params = {key: plain(value) for key, value in engine.params.items()}
    return f"{cls.__module__}.{cls.__qualname__}", params


def plain(value: Any) -> Any:
    """A value as JSON holds it (numpy numbers become Python ones)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def report(
    searcher: Any,
    trial_id: str,
    proposal: Proposal | None,
    score: float | None,
    maximize: bool,
    seconds: float,
) -> None:
    """Tell the searcher how ``trial_id`` did (score None: it failed)."""
    if score is None or proposal is None:
        searcher.on_trial_complete(trial_id, None, error=True)
        return
    config = {"ml": {**proposal.config, "learner": proposal.learner}}
    result: dict[str, Any] = {
        LOSS: 1.0 - score if maximize else score,
        COST: max(seconds, 1e-3),
        # FLAML's tune hands a trial's config to the searcher under this prefix.
        **{f"config/{key}": value for key, value in config.items()},
    }
    searcher.on_trial_complete(trial_id, result)
