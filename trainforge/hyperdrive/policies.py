"""Early-termination policies: which running trial to cancel when its primary metric grows.

An *interval* is one logging of the primary metric by a trial (the SDK's definition). A
policy is applied to a trial at every interval N that is a multiple of
``evaluation_interval`` and at least ``delay_evaluation``. A trial's *standing* at N is its
best value over intervals 1..N; it is compared only with the other trials' values up to
the same interval N (runs that have not reached N yet take no part), so young runs are
never judged against older runs' later progress.

A running trial is judged at N again whenever another trial's value at N arrives later
(``Policy.review``): a trial that reports each interval a little before its competitors
is compared with them once they catch up, so the verdicts do not depend on which trial
started or reports first. A trial canceled at N keeps its first N values only (what it
logs while it stops is not part of its curve).

- Bandit: cancel when the standing is worse than the best standing at N by more than the
  slack: maximize ``standing < best / (1 + slack_factor)`` or ``standing < best - slack_amount``;
  minimize ``standing > best * (1 + slack_factor)`` or ``standing > best + slack_amount``.
- MedianStopping: cancel when the standing is worse than the median of the running
  averages over 1..N of the runs that reached N.
- TruncationSelection: cancel when the standing is among the worst
  ``floor(n * truncation_percentage / 100)`` of the n runs that reached N (ties count in
  the trial's favour); ``exclude_finished_jobs`` leaves finished runs out of n.
- ASHA (asynchronous successive halving, trainforge's own): rungs at
  ``evaluation_interval * reduction_factor**k`` intervals (those >= ``delay_evaluation``
  and <= ``max_intervals`` when given). The first time a trial reaches a rung, it is
  cancelled if its standing is worse than the ``1 - 1/reduction_factor`` quantile of the
  standings recorded at that rung so far; then its standing is recorded there. This is
  asynchronous by design: a trial is judged once per rung, on arrival, never again.
- Default (NoTerminationPolicy): never cancels.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

POLICY_CLASS = {
    "Bandit": "BanditPolicy",
    "MedianStopping": "MedianStoppingPolicy",
    "TruncationSelection": "TruncationSelectionPolicy",
    "Default": "NoTerminationPolicy",
    "ASHA": "ASHAPolicy",
}


class PolicyError(ValueError):
    """A policy configuration the SDK would refuse; the message names the field."""


def _int(properties: Mapping[str, Any], name: str, default: int, minimum: int) -> int:
    value = properties.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"{name}: expected an int, got {value!r}")
    if value < minimum:
        raise PolicyError(f"{name}: must be >= {minimum}, got {value}")
    return value


def check_policy(name: str, properties: Mapping[str, Any]) -> None:
    """Raise PolicyError unless ``name``/``properties`` is a valid policy."""
    if name not in POLICY_CLASS:
        raise PolicyError(
            f"policy name: unknown policy {name!r}; use one of {', '.join(POLICY_CLASS)}"
        )
    if name == "Default":
        return
    _int(properties, "evaluation_interval", 1, 1)
    _int(properties, "delay_evaluation", 0, 0)
    if name == "Bandit":
        factor, amount = properties.get("slack_factor"), properties.get("slack_amount")
        if (factor is None) == (amount is None):
            raise PolicyError(
                "slack_factor, slack_amount: Bandit termination policy expects exactly one of "
                "slack factor or slack amount to be set"
            )
        value = factor if factor is not None else amount
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            which = "slack_factor" if factor is not None else "slack_amount"
            raise PolicyError(f"{which}: expected a non-negative number, got {value!r}")
    if name == "TruncationSelection":
        percentage = properties.get("truncation_percentage")
        if not isinstance(percentage, int) or isinstance(percentage, bool):
            raise PolicyError(f"truncation_percentage: expected an int, got {percentage!r}")
        if not 1 <= percentage <= 99:
            raise PolicyError(
                f"truncation_percentage: value to be between 1 and 99, got {percentage}"
            )
    if name == "ASHA":
        _int(properties, "reduction_factor", 3, 2)
        if properties.get("max_intervals") is not None:
            _int(properties, "max_intervals", 1, 1)


def better(a: float, b: float, maximize: bool) -> bool:
    """True when ``a`` is strictly better than ``b``."""
    return a > b if maximize else a < b


def best_of(values: Sequence[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default method)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Decision:
    """Cancel the trial at ``interval`` for ``reason`` (the text its details show)."""

    interval: int
    reason: str


@dataclass
class Policy:
    """A policy as the service stores it: ``{"name": ..., "properties": {...}}``."""

    name: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return POLICY_CLASS[self.name]

    def applies_at(self, interval: int) -> bool:
        if self.name == "Default":
            return False
        every = self.properties.get("evaluation_interval") or 1
        delay = self.properties.get("delay_evaluation") or 0
        if self.name == "ASHA":
            return interval in self.rungs(interval)
        return interval > 0 and interval % every == 0 and interval >= delay

    def rungs(self, up_to: int) -> list[int]:
        """ASHA's milestones up to ``up_to`` intervals."""
        every = self.properties.get("evaluation_interval") or 1
        delay = self.properties.get("delay_evaluation") or 0
        factor = self.properties.get("reduction_factor") or 3
        limit = self.properties.get("max_intervals") or up_to
        found, rung = [], every
        while rung <= min(up_to, limit):
            if rung >= delay:
                found.append(rung)
            rung *= factor
        return found

    def evaluate(
        self,
        trial: str,
        curves: Mapping[str, Sequence[float]],
        maximize: bool,
        from_interval: int,
        finished: frozenset[str] = frozenset(),
        state: dict[str, Any] | None = None,
        metric: str = "metric",
    ) -> Decision | None:
        """Apply the policy to ``trial`` at each interval after ``from_interval`` it has reached.

        ``curves`` holds every trial's primary-metric values in logging order; ``state`` is
        the policy's own memory (ASHA's rungs), updated in place.
        """
        mine = curves[trial]
        for interval in range(from_interval + 1, len(mine) + 1):
            if not self.applies_at(interval):
                continue
            reason = self._at(interval, trial, curves, maximize, finished, state, metric)
            if reason is not None:
                return Decision(interval, reason)
        return None

    def review(
        self,
        curves: Mapping[str, Sequence[float]],
        seen: Mapping[str, int],
        running: Iterable[str],
        maximize: bool,
        finished: frozenset[str] = frozenset(),
        state: dict[str, Any] | None = None,
        metric: str = "metric",
        ended: Iterable[str] = (),
    ) -> dict[str, Decision]:
        """Judge every ``running`` trial again wherever the values it is compared with changed.

        ``seen[run]`` is how many of a trial's values the previous review knew; the
        intervals after it are new, and every running trial that has reached a new
        interval is judged there, whoever logged the value. ``ended`` trials finished
        since the previous review (which changes ``exclude_finished_jobs`` pools). A
        canceled trial counts with its first ``interval`` values only, so its verdict is
        applied to the others before the review ends. Returns the verdicts by trial.
        """
        mine = {run: list(values) for run, values in curves.items()}
        changed: set[int] = set()
        for run, values in mine.items():
            start = 0 if run in ended else seen.get(run, 0)
            changed.update(range(start + 1, len(values) + 1))
        pending = sorted(running)
        decisions: dict[str, Decision] = {}
        while changed:
            intervals = sorted(n for n in changed if self.applies_at(n))
            changed = set()
            for trial in pending:
                if trial in decisions:
                    continue
                length = len(mine[trial])
                if self.name == "ASHA":
                    # A rung judges a trial once, when it gets there.
                    candidates = [
                        n for n in range(seen.get(trial, 0) + 1, length + 1) if self.applies_at(n)
                    ]
                else:
                    candidates = [n for n in intervals if n <= length]
                for n in candidates:
                    reason = self._at(n, trial, mine, maximize, finished, state, metric)
                    if reason is not None:
                        decisions[trial] = Decision(n, reason)
                        # Its later values leave the comparisons they took part in.
                        changed.update(range(n + 1, length + 1))
                        mine[trial] = mine[trial][:n]
                        break
        return decisions

    def _at(
        self,
        n: int,
        trial: str,
        curves: Mapping[str, Sequence[float]],
        maximize: bool,
        finished: frozenset[str],
        state: dict[str, Any] | None,
        metric: str,
    ) -> str | None:
        reached = {run: values[:n] for run, values in curves.items() if len(values) >= n}
        standing = {run: best_of(values, maximize) for run, values in reached.items()}
        mine = standing[trial]
        word = "best" if maximize else "lowest"
        p = self.properties
        head = f"{self.label} canceled the run at interval {n}: its {word} {metric} {mine:.6g}"
        if self.name == "Bandit":
            top = best_of(list(standing.values()), maximize)
            if p.get("slack_factor") is not None:
                f = float(p["slack_factor"])
                limit = top / (1 + f) if maximize else top * (1 + f)
                rule = f"{top:.6g} {'/' if maximize else '*'} (1 + {f:g})"
            else:
                a = float(p["slack_amount"])
                limit = top - a if maximize else top + a
                rule = f"{top:.6g} {'-' if maximize else '+'} {a:g}"
            if better(limit, mine, maximize):
                sign = "<" if maximize else ">"
                return f"{head} {sign} {rule} = {limit:.6g} (the best run's value at this interval, less the slack)"
            return None
        if self.name == "MedianStopping":
            averages = [statistics.fmean(values) for values in reached.values()]
            median = statistics.median(averages)
            if better(median, mine, maximize):
                return (
                    f"{head} is worse than {median:.6g}, the median of the running averages of "
                    f"{len(averages)} runs over intervals 1..{n}"
                )
            return None
        if self.name == "TruncationSelection":
            pool = {
                run: value
                for run, value in standing.items()
                if run == trial or not (p.get("exclude_finished_jobs") and run in finished)
            }
            cut = math.floor(len(pool) * int(p["truncation_percentage"]) / 100)
            ahead = sum(1 for value in pool.values() if better(value, mine, maximize))
            if cut and ahead >= len(pool) - cut:
                return (
                    f"{head} is in the lowest {p['truncation_percentage']}% "
                    f"({cut} of {len(pool)} runs at this interval)"
                )
            return None
        if self.name == "ASHA":
            rungs = (state if state is not None else {}).setdefault("rungs", {})
            recorded: dict[str, float] = rungs.setdefault(str(n), {})
            if trial in recorded:
                return None
            factor = int(p.get("reduction_factor") or 3)
            cutoff = None
            if recorded:
                q = 1 - 1 / factor if maximize else 1 / factor
                cutoff = _quantile(list(recorded.values()), q)
            recorded[trial] = mine
            if cutoff is not None and better(cutoff, mine, maximize):
                return (
                    f"{head} is worse than {cutoff:.6g}, the cutoff for the top 1/{factor} "
                    f"of the {len(recorded) - 1} runs that reached rung {n} before it"
                )
            return None
        return None
