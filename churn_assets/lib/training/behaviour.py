"""Behavioural tests of a model (in the spirit of CheckList / Made-With-ML).

* **Inputs are features**: the model reads only columns the contract calls features (never
  the id, the target, the snapshot time or an excluded field).
* **Batch invariance**: a row's score does not depend on the other rows scored with it or on
  their order (the service batches requests from different customers; batch scoring chunks).
* **Invariance**: shuffling a model input the score must ignore (``invariant_fields``, e.g. a
  sensitive attribute kept as a feature) moves no score by more than a tolerance.
* **Directional expectations**: a counterfactual edit with a known direction (a two-year
  contract does not raise churn risk versus month-to-month, all else equal) holds for all
  but a small share of rows.
* **Minimum quality on named slices**: ROC-AUC on each slice value with enough rows and both
  classes is at least a floor.

There is no "customer id invariance" test: the pipeline selects the contract's features by
name, so shuffling the id (or any other non-feature) cannot move a score, and a test that
cannot fail only looks like assurance. What it meant to guard, the id never being a model
input, is the *inputs are features* test, which fails if it ever is.

A rule that names a field or value the contract (or the data) does not have cannot be judged;
it raises :class:`BehaviourRuleError` naming the rule, the field and what exists, rather than
pass: a typo must not turn a test off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

Scorer = Callable[[pd.DataFrame], np.ndarray]

# Rows scored one at a time by the batch-invariance test (each call costs ~20 ms for an
# sklearn pipeline) and the score difference it allows (floating-point noise only).
BATCH_SAMPLE_ROWS = 25
BATCH_TOLERANCE = 1e-9


class BehaviourRuleError(ValueError):
    """A behavioural rule names a field or value that does not exist: it cannot be judged."""


@dataclass(frozen=True)
class Direction:
    """Changing ``field`` from ``source`` to ``target`` must not move the score ``expect``."""

    field: str
    source: str
    target: str
    expect: str = "not_increase"  # or "not_decrease"

    @property
    def name(self) -> str:
        """The test's name in the results table."""
        return f"direction_{self.field}_{self.source}_to_{self.target}".replace(" ", "_")


@dataclass(frozen=True)
class Verdict:
    """One behavioural test's outcome."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str


def check_rules(
    contract: DataContract, invariant_fields: Sequence[str], directions: Sequence[Direction]
) -> None:
    """Raise if any rule names a field or value the contract does not have as a model input.

    Every problem is listed at once, each with the rule, the field and the contract's
    feature columns or allowed values, so one edit of the configuration fixes them all.

    Raises:
        BehaviourRuleError: when a rule cannot be judged.
    """
    features = contract.feature_columns
    problems = []
    for field in invariant_fields:
        problems += _field_problems(f"invariance_{field}", field, contract)
    for rule in directions:
        problems += _field_problems(rule.name, rule.field, contract)
        if rule.expect not in ("not_increase", "not_decrease"):
            problems.append(
                f"{rule.name}: expect is {rule.expect!r}; use 'not_increase' or 'not_decrease'"
            )
        if rule.field not in features:
            continue
        allowed = contract.allowed_values(rule.field)
        if allowed is None:
            continue
        allowed_text = [str(v) for v in allowed]
        for side in ("source", "target"):
            value = getattr(rule, side)
            if str(value) not in allowed_text:
                problems.append(
                    f"{rule.name}: {side} {value!r} is not a value of {rule.field} "
                    f"(the contract allows {allowed_text})"
                )
    if problems:
        raise BehaviourRuleError(
            "behavioural rules that cannot be judged (fix or remove them in the "
            "behavioural_tests check's config): " + "; ".join(problems)
        )


def _field_problems(rule: str, field: str, contract: DataContract) -> list[str]:
    if field not in contract.columns:
        return [
            f"{rule}: {field!r} is not a column of contract {contract.name!r} "
            f"(its feature columns: {contract.feature_columns})"
        ]
    if field not in contract.feature_columns:
        return [
            f"{rule}: {field!r} is the contract's {contract.role(field)}, never a model input, "
            f"so this test could not fail (feature columns: {contract.feature_columns})"
        ]
    return []


def inputs_are_features(input_columns: Sequence[str], contract: DataContract) -> Verdict:
    """The model's input columns must all be contract features (the id never is one)."""
    features = set(contract.feature_columns)
    wrong = [c for c in input_columns if c not in features]
    roles = ", ".join(
        f"{c} ({contract.role(c) if c in contract.columns else 'not in the contract'})"
        for c in wrong
    )
    return Verdict(
        "inputs_are_features",
        not wrong,
        float(len(wrong)),
        0.0,
        f"model inputs that are not contract features: {roles}"
        if wrong
        else f"all {len(input_columns)} model inputs are contract features",
    )


def batch_invariance(
    score: Scorer,
    frame: pd.DataFrame,
    sample_rows: int = BATCH_SAMPLE_ROWS,
    tolerance: float = BATCH_TOLERANCE,
    seed: int = 0,
) -> Verdict:
    """Score the rows as one batch, in reverse order, and a sample of them one at a time; the
    largest difference of a row's score between the three must be within ``tolerance``."""
    together = np.asarray(score(frame), dtype=float)
    reversed_ = np.asarray(score(frame.iloc[::-1]), dtype=float)[::-1]
    delta = float(np.max(np.abs(reversed_ - together))) if len(frame) else 0.0
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(frame), size=min(sample_rows, len(frame)), replace=False)
    for i in picked:
        alone = float(np.asarray(score(frame.iloc[[i]]), dtype=float)[0])
        delta = max(delta, abs(alone - together[i]))
    return Verdict(
        "batch_invariance",
        delta <= tolerance,
        delta,
        tolerance,
        f"max |score change| of a row scored alone ({len(picked)} rows) or in reversed order "
        f"({len(frame)} rows) versus in one batch",
    )


def invariance(
    score: Scorer, frame: pd.DataFrame, field: str, tolerance: float, seed: int = 0
) -> Verdict:
    """Shuffle ``field`` across rows; the largest score change must stay within tolerance.

    Raises:
        BehaviourRuleError: when the rows have no ``field``.
    """
    _require_field(f"invariance_{field}", field, frame)
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
    score moves the wrong way by more than ``tolerance``.

    Raises:
        BehaviourRuleError: when the rows have no ``rule.field`` or no row holds the source.
    """
    _require_field(rule.name, rule.field, frame)
    rows = frame[frame[rule.field].astype(str) == rule.source]
    if rows.empty:
        present = sorted(frame[rule.field].astype(str).unique().tolist())[:20]
        raise BehaviourRuleError(
            f"{rule.name}: no row has {rule.field} = {rule.source!r}, so the rule cannot be "
            f"judged (values present: {present}); fix the value or remove the rule"
        )
    edited = rows.copy()
    edited[rule.field] = _as_column_value(rule.target, frame[rule.field])
    delta = score(edited) - score(rows)
    wrong = delta > tolerance if rule.expect == "not_increase" else delta < -tolerance
    share = float(np.mean(wrong))
    return Verdict(
        rule.name,
        share <= max_violation_share,
        share,
        max_violation_share,
        f"share of {len(rows)} rows where {rule.field}: {rule.source} -> {rule.target} "
        f"moves the score against '{rule.expect}' by more than {tolerance}",
    )


def _as_column_value(value: str, column: pd.Series) -> object:
    """A rule's value (text in the config) in the column's own type (``SeniorCitizen``: 1)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return pd.to_numeric(pd.Series([value])).astype(column.dtype).iloc[0]
    return value


def _require_field(rule: str, field: str, frame: pd.DataFrame) -> None:
    if field not in frame:
        raise BehaviourRuleError(
            f"{rule}: the rows have no column {field!r} (columns: {list(frame.columns)})"
        )


def slice_floors(
    scores: np.ndarray,
    y: np.ndarray,
    frame: pd.DataFrame,
    slices: list[str],
    min_auc: float,
    min_rows: int,
    min_per_class: int = 10,
) -> list[Verdict]:
    """ROC-AUC at least ``min_auc`` on every slice value with enough rows and at least
    ``min_per_class`` churners and non-churners: an AUC on a handful of churners (a two-year
    contract slice of 100 rows has ~3) is noise, and is not judged."""
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
        if row.rows >= min_rows
        and row.roc_auc == row.roc_auc  # NaN: a single-class slice
        and min(round(row.rows * row.churn_rate), round(row.rows * (1 - row.churn_rate)))
        >= min_per_class
    ]
