"""The promotion gate: may a challenger replace the champion?

Criteria, each measured on the same held-out test rows:

* **Absolute floors**: ROC-AUC at least a floor, PR-AUC at least a multiple of the positive
  rate (a random model's PR-AUC, so the floor means the same on a 10% or a 27% churn rate),
  Brier score at most a ceiling.
* **No significant regression**: the challenger's ROC-AUC minus the current champion's, with
  a paired bootstrap (same resampled rows for both); the challenger fails when the whole 95%
  interval lies below ``-margin``, i.e. it is worse by more than the margin with confidence.
  Small differences inside the noise do not block (on ~1,400 Telco rows an AUC is known to
  about ±0.02).
* **Fairness**: demographic parity and equalized odds differences within limits.

Modes: ``enforce`` promotes only when every criterion passes; ``dry_run`` decides and records
but moves nothing; ``force`` promotes regardless and requires a human reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Mode = Literal["enforce", "dry_run", "force"]


@dataclass(frozen=True)
class Floors:
    """Absolute quality floors on the test rows."""

    min_roc_auc: float = 0.70
    min_pr_auc_lift: float = 2.0  # PR-AUC at least this many times the positive rate
    max_brier: float = 0.20


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
    outcome: str  # promoted | rejected | dry_run_pass | dry_run_reject | forced
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


def floors(metrics: dict[str, float], limits: Floors, positive_rate: float) -> list[Criterion]:
    """The absolute-floor criteria (the PR-AUC floor scales with the positive rate)."""
    min_pr_auc = min(limits.min_pr_auc_lift * positive_rate, 1.0)
    return [
        Criterion(
            "roc_auc_floor",
            metrics["roc_auc"] >= limits.min_roc_auc,
            metrics["roc_auc"],
            limits.min_roc_auc,
            "test ROC-AUC at least the floor",
        ),
        Criterion(
            "pr_auc_floor",
            metrics["pr_auc"] >= min_pr_auc,
            metrics["pr_auc"],
            min_pr_auc,
            f"test PR-AUC at least {limits.min_pr_auc_lift}x the churn rate",
        ),
        Criterion(
            "brier_ceiling",
            metrics["brier"] <= limits.max_brier,
            metrics["brier"],
            limits.max_brier,
            "test Brier score at most the ceiling (calibration)",
        ),
    ]


def no_regression(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    margin: float = 0.01,
    n_boot: int = 500,
    seed: int = 0,
) -> Criterion:
    """Paired bootstrap of the ROC-AUC difference challenger - champion on the same rows."""
    from sklearn.metrics import roc_auc_score

    if champion is None:
        return Criterion(
            "no_regression_vs_champion",
            True,
            0.0,
            -margin,
            "no current champion: nothing to regress against",
        )
    y = np.asarray(y).astype(int)
    diff = float(roc_auc_score(y, challenger) - roc_auc_score(y, champion))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            diffs.append(
                roc_auc_score(y[idx], challenger[idx]) - roc_auc_score(y[idx], champion[idx])
            )
    low, high = np.quantile(diffs, [0.025, 0.975])
    passed = bool(high >= -margin)
    return Criterion(
        "no_regression_vs_champion",
        passed,
        diff,
        -margin,
        f"AUC difference {diff:+.4f} (95% CI {low:+.4f} to {high:+.4f}); fails when the whole "
        f"interval is below -{margin}",
    )


def no_segment_regression(
    frame: pd.DataFrame,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    slices: list[str],
    margin: float = 0.05,
    min_rows: int = 200,
) -> Criterion:
    """No contract slice (with enough rows and both classes) loses more than ``margin`` AUC
    against the current champion: a better average must not hide a failing segment."""
    from churn_assets.lib.evaluation.metrics import segment_metrics

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


def fairness(summary_rows: list[dict]) -> list[Criterion]:
    """Fairness criteria from ``lib.fairness`` summary rows (one per sensitive attribute)."""
    out = []
    for row in summary_rows:
        out.append(
            Criterion(
                f"fairness_dp_{row['attribute']}",
                bool(row["dp_within_limit"]),
                float(row["demographic_parity_difference"]),
                float(row["dp_limit"]),
                "demographic parity difference of offer rates within the limit",
            )
        )
        out.append(
            Criterion(
                f"fairness_eo_{row['attribute']}",
                bool(row["eo_within_limit"]),
                float(row["equalized_odds_difference"]),
                float(row["eo_limit"]),
                "equalized odds difference within the limit",
            )
        )
    return out


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
    raise ValueError(f"unknown gate mode {mode!r}; use enforce, dry_run or force")
