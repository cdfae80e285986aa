"""How much search each family gets: the budget and its named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TuningBudget:
    """How much search each family gets.

    Attributes:
        n_trials: trial cap per family (completed + pruned trials of a resumed study count).
        timeout_s: wall-clock budget per family and materialization.
        cv_folds: stratified folds on the training rows.
        threads: threads per model fit (n_jobs / nthread); keep families x threads <= cores.
        early_stopping_rounds: boosters stop when validation AUC has not improved this long.
        max_boosting_rounds: upper bound on trees for the boosters.
    """

    n_trials: int = 12
    timeout_s: float = 60.0
    cv_folds: int = 3
    threads: int = 1
    early_stopping_rounds: int = 30
    max_boosting_rounds: int = 1000


PRESETS: dict[str, TuningBudget] = {
    # `make demo`: the whole graph in a few minutes on two cores.
    "demo": TuningBudget(n_trials=12, timeout_s=45.0, cv_folds=3),
    # Real use: a search that has converged on tabular data of Telco's size.
    "thorough": TuningBudget(
        n_trials=120,
        timeout_s=900.0,
        cv_folds=5,
        early_stopping_rounds=100,
        max_boosting_rounds=4000,
    ),
}


def tuning_budget(preset: str = "demo", **overrides: Any) -> TuningBudget:
    """A preset's budget with the given fields replaced (``None`` values are ignored).

    Raises:
        ValueError: for an unknown preset or field.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown tuning preset {preset!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(
        PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}
    )
