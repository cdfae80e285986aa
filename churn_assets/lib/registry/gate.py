"""The promotion gate: may a challenger replace the champion?

Criteria, each measured on the same held-out test rows:

* **Absolute floors**: ROC-AUC at least a floor, PR-AUC at least a multiple of the positive
  rate (a random model's PR-AUC, so the floor means the same on a 10% or a 27% churn rate),
  Brier score at most a ceiling.
* **Not worse than the champion (non-inferiority)**: the challenger's ROC-AUC minus the
  current champion's, with a paired bootstrap (same resampled rows for both); the challenger
  passes only when the lower end of the 95% interval is at least ``-margin`` (the stated
  tolerance, 0.02 AUC by default): it must show it is not worse by more than the tolerance.
  A small test set widens the interval, so an equal challenger may fail there, and a
  challenger 0.03 worse never passes (its interval lies below its point estimate). The
  interval is recorded in the criterion. Both models are compared on the test rows the
  champion never saw (``compare_rows``: its training and validation customers are left out,
  see ``lib.registry.promotion``); the challenger never saw any test row.
* **Fairness**: per sensitive attribute, the criterion its contract chose (default equal
  opportunity: the gap in true positive rates) within its limit, as judged by
  ``fairness_report`` (the gate takes its verdicts; limits from the contract and
  ``FairnessPolicy``; docs/fairness.md).
* **Model card**: every required section present and filled.

The challenger's numbers are those of ``evaluation_report`` (its per-row test scores, so the
paired test compares the very scores the report measured); only the current champion is
scored here. Thresholds come from ``lib.registry.policy.GatePolicy``.

Modes: ``enforce`` promotes only when every criterion passes; ``dry_run`` decides and records
but moves nothing; ``force`` promotes regardless and requires a human reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from churn_assets.lib.evaluation.scores import bootstrap, interval, roc_auc
from churn_assets.lib.registry.policy import (
    FAIRNESS,
    MODEL_CARD_COMPLETE,
    NO_REGRESSION,
    QUALITY_FLOORS,
)

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.evaluation.fairness import FairnessResult
    from churn_assets.lib.evaluation.report import EvaluationReport
    from churn_assets.lib.registry.policy import GatePolicy, Mode


@dataclass(frozen=True)
class Criterion:
    """One gate criterion's verdict with its evidence."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str


@dataclass
class Decision:
    """The gate's verdict."""

    mode: Mode
    criteria: list[Criterion]
    promote: bool
    outcome: str  # promoted | rejected | pending_approval | dry_run_pass | dry_run_reject | forced
    reason: str
    evidence: dict = field(default_factory=dict)

    @property
    def all_passed(self) -> bool:
        """Whether every criterion passed."""
        return all(c.passed for c in self.criteria)

    def as_dict(self) -> dict:
        """A JSON-friendly record of the decision."""
        return {
            "mode": self.mode,
            "outcome": self.outcome,
            "promote": self.promote,
            "reason": self.reason,
            "criteria": [asdict(c) for c in self.criteria],
        }


def floors(metrics: dict[str, float], policy: GatePolicy, positive_rate: float) -> list[Criterion]:
    """The absolute-floor criteria (the PR-AUC floor scales with the positive rate)."""
    min_pr_auc = min(policy.min_pr_auc_lift * positive_rate, 1.0)
    return [
        Criterion(
            "roc_auc_floor",
            metrics["roc_auc"] >= policy.min_roc_auc,
            metrics["roc_auc"],
            policy.min_roc_auc,
            "test ROC-AUC at least the floor",
        ),
        Criterion(
            "pr_auc_floor",
            metrics["pr_auc"] >= min_pr_auc,
            metrics["pr_auc"],
            min_pr_auc,
            f"test PR-AUC at least {policy.min_pr_auc_lift}x the churn rate",
        ),
        Criterion(
            "brier_ceiling",
            metrics["brier"] <= policy.max_brier,
            metrics["brier"],
            policy.max_brier,
            "test Brier score at most the ceiling (calibration)",
        ),
    ]


def no_regression(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    margin: float,
    n_boot: int,
    seed: int,
    note: str = "",
) -> Criterion:
    """Non-inferiority of the ROC-AUC by a paired bootstrap of challenger - champion on the
    same rows: passes when the 95% interval's lower end is at least ``-margin``."""
    if champion is None:
        return Criterion(
            "no_regression_vs_champion",
            True,
            0.0,
            -margin,
            "no current champion: nothing to regress against",
        )
    y = np.asarray(y).astype(int)
    if len(y) < 2 or np.unique(y).size < 2:
        return Criterion(
            "no_regression_vs_champion",
            False,
            float("nan"),
            -margin,
            f"cannot compare with the champion: {len(y)} test rows it never saw, "
            f"{np.unique(y).size} class(es){note}",
        )
    diff = roc_auc(y, challenger) - roc_auc(y, champion)
    diffs = bootstrap(
        lambda rows: roc_auc(y[rows], challenger[rows]) - roc_auc(y[rows], champion[rows]),
        len(y),
        n_boot,
        seed,
    )
    low, high = interval(diffs)
    passed = bool(low >= -margin)
    return Criterion(
        "no_regression_vs_champion",
        passed,
        diff,
        -margin,
        f"AUC difference {diff:+.4f} (95% CI {low:+.4f} to {high:+.4f}, paired bootstrap on "
        f"{len(y)} rows); passes when the interval's lower end is at least -{margin}{note}",
    )


def no_segment_regression(
    frame: pd.DataFrame,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    slices: list[str],
    margin: float,
    min_rows: int,
) -> Criterion:
    """No contract slice (with enough rows and both classes) loses more than ``margin`` AUC
    against the current champion: a better average must not hide a failing segment."""
    from churn_assets.lib.evaluation.report import segment_metrics

    if champion is None:
        return Criterion(
            "no_segment_regression",
            True,
            0.0,
            -margin,
            "no current champion: nothing to regress against",
        )
    new = segment_metrics(frame, y, challenger, 0.5, slices).set_index(["slice", "value"])
    old = segment_metrics(frame, y, champion, 0.5, slices).set_index(["slice", "value"])
    diff = (new["roc_auc"] - old["roc_auc"])[new["rows"] >= min_rows].dropna()
    if diff.empty:
        return Criterion(
            "no_segment_regression",
            True,
            0.0,
            -margin,
            f"no slice with at least {min_rows} rows and both classes",
        )
    worst = diff.idxmin()
    value = float(diff.min())
    return Criterion(
        "no_segment_regression",
        value >= -margin,
        value,
        -margin,
        f"largest slice AUC change {value:+.4f} at {worst[0]} = {worst[1]}",
    )


def fairness(result: FairnessResult) -> list[Criterion]:
    """The fairness report's verdicts: one criterion per sensitive attribute, named by the
    criterion the contract chose for it (``fairness_equal_opportunity_SeniorCitizen``). An
    attribute without two groups large enough to compare passes with value 0 (its detail
    says why): JSON records and Dagster metadata take no NaN."""
    return [
        Criterion(
            f"fairness_{row['criterion']}_{row['attribute']}",
            bool(row["passed"]),
            float(row["value"]) if np.isfinite(row["value"]) else 0.0,
            float(row["limit"]),
            str(row["detail"]),
        )
        for row in result.summary.to_dict("records")
    ]


def card_complete(card: str) -> Criterion:
    """Every required model-card section present and filled (the decision comes later)."""
    from churn_assets.lib.evaluation.model_card import incomplete_sections

    missing = incomplete_sections(card)
    return Criterion(
        "model_card_complete",
        not missing,
        float(len(missing)),
        0.0,
        f"missing or empty sections: {missing}" if missing else "all sections present",
    )


def criteria(
    policy: GatePolicy,
    evaluation: EvaluationReport,
    fairness_result: FairnessResult,
    card: str,
    test_set: pd.DataFrame,
    slices: list[str],
    champion_scores: np.ndarray | None,
    compare_rows: np.ndarray | None = None,
    compare_note: str = "",
) -> dict[str, list[Criterion]]:
    """Every criterion, grouped by the asset check that reports it (``policy.CHECKS``).

    Args:
        compare_rows: a boolean mask of the test rows the comparisons with the champion use
            (those it never trained or tuned on); all rows when None.
        compare_note: what the mask left out, appended to the comparisons' details.
    """
    y, p = evaluation.labels, evaluation.scores
    measured = {m: evaluation.value(m) for m in ("roc_auc", "pr_auc", "brier")}
    rows = np.ones(len(y), bool) if compare_rows is None else np.asarray(compare_rows, bool)
    old = champion_scores[rows] if champion_scores is not None else None
    frame = test_set.reset_index(drop=True)[rows].reset_index(drop=True)
    return {
        QUALITY_FLOORS: floors(measured, policy, evaluation.positive_rate),
        NO_REGRESSION: [
            no_regression(
                y[rows],
                p[rows],
                old,
                policy.regression_margin,
                policy.n_bootstrap,
                policy.seed,
                compare_note,
            ),
            no_segment_regression(
                frame,
                y[rows],
                p[rows],
                old,
                slices,
                policy.segment_margin,
                policy.segment_min_rows,
            ),
        ],
        FAIRNESS: fairness(fairness_result),
        MODEL_CARD_COMPLETE: [card_complete(card)],
    }


def decide(criteria: list[Criterion], mode: Mode, reason: str = "") -> Decision:
    """Combine criteria and mode into a decision.

    Raises:
        ValueError: ``force`` without a reason, or an unknown mode.
    """
    passed = all(c.passed for c in criteria)
    failed = [c.name for c in criteria if not c.passed]
    if mode == "force":
        if not reason.strip():
            raise ValueError("mode 'force' overrides the gate and requires a reason")
        return Decision(mode, criteria, True, "forced", reason)
    if mode == "dry_run":
        outcome = "dry_run_pass" if passed else "dry_run_reject"
        why = reason or ("all criteria passed" if passed else f"failed: {', '.join(failed)}")
        return Decision(mode, criteria, False, outcome, why)
    if mode == "enforce":
        why = reason or ("all criteria passed" if passed else f"failed: {', '.join(failed)}")
        return Decision(mode, criteria, passed, "promoted" if passed else "rejected", why)
    if mode == "approve":  # passed: a person decides (lib.registry.approval)
        why = reason or (
            "all criteria passed; waiting for approval"
            if passed
            else f"failed: {', '.join(failed)}"
        )
        return Decision(mode, criteria, False, "pending_approval" if passed else "rejected", why)
    raise ValueError(f"unknown gate mode {mode!r}; use enforce, approve, dry_run or force")
