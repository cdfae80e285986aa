"""Behavioural tests of a model (in the spirit of CheckList / Made-With-ML).

* **Invariance**: changing a field the score must not depend on (the customer id always;
  any field declared irrelevant) moves no score by more than a tolerance.
* **Directional expectations**: a counterfactual edit with a known direction (a two-year
  contract does not raise churn risk versus month-to-month, all else equal) holds for all
  but a small share of rows.
* **Minimum quality on named slices**: ROC-AUC on each slice value with enough rows and both
  classes is at least a floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Direction:
    """Changing ``field`` from ``source`` to ``target`` must not move the score ``expect``."""

    field: str
    source: str
    target: str
    expect: str = "not_increase"  # or "not_decrease"


@dataclass(frozen=True)
class Verdict:
    """One behavioural test's outcome."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str


def invariance(
    score: Scorer, frame: pd.DataFrame, field: str, tolerance: float, seed: int = 0
) -> Verdict:
    """Shuffle ``field`` across rows; the largest score change must stay within tolerance."""
    if field not in frame:
        return Verdict(f"invariance_{field}", True, 0.0, tolerance, f"{field} not in the data")
    rng = np.random.default_rng(seed)
    changed = frame.copy()
    changed[field] = rng.permutation(frame[field].to_numpy())
    delta = float(np.max(np.abs(score(changed) - score(frame)))) if len(frame) else 0.0
    return Verdict(
        f"invariance_{field}",
        delta <= tolerance,
        delta,
        tolerance,
        f"max |score change| when {field} is shuffled across rows",
    )


def directional(
    score: Scorer,
    frame: pd.DataFrame,
    rule: Direction,
    tolerance: float,
    max_violation_share: float,
) -> Verdict:
    """Edit ``rule.field`` from source to target on the rows holding source; count rows whose
    score moves the wrong way by more than ``tolerance``."""
    name = f"direction_{rule.field}_{rule.source}_to_{rule.target}".replace(" ", "_")
    if rule.field not in frame:
        return Verdict(name, True, 0.0, max_violation_share, f"{rule.field} not in the data")
    rows = frame[frame[rule.field].astype(str) == rule.source]
    if rows.empty:
        return Verdict(name, True, 0.0, max_violation_share, f"no row has {rule.source!r}")
    edited = rows.copy()
    edited[rule.field] = rule.target
    delta = score(edited) - score(rows)
    wrong = delta > tolerance if rule.expect == "not_increase" else delta < -tolerance
    share = float(np.mean(wrong))
    return Verdict(
        name,
        share <= max_violation_share,
        share,
        max_violation_share,
        f"share of {len(rows)} rows where {rule.field}: {rule.source} -> {rule.target} "
        f"moves the score against '{rule.expect}' by more than {tolerance}",
    )


def slice_floors(
    scores: np.ndarray,
    y: np.ndarray,
    frame: pd.DataFrame,
    slices: list[str],
    min_auc: float,
    min_rows: int,
) -> list[Verdict]:
    """ROC-AUC at least ``min_auc`` on every slice value with enough rows and both classes."""
    from churn_assets.lib.evaluation.report import segment_metrics

    table = segment_metrics(frame, y, scores, threshold=0.5, slices=slices)
    return [
        Verdict(
            f"slice_auc_{row.slice}={row.value}",
            bool(row.roc_auc >= min_auc),
            float(row.roc_auc),
            min_auc,
            f"ROC-AUC on {row.rows} rows with {row.slice} = {row.value}",
        )
        for row in table.itertuples()
        if row.rows >= min_rows and row.roc_auc == row.roc_auc  # NaN: a single-class slice
    ]
