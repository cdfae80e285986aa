"""The promotion gate's policy, declared once: the gate's Dagster config class is built from
it (``class GateConfig(dg.Config, GatePolicy)``) and ``lib.registry.gate`` reads it.

Fairness limits are not here: the gate reads the per-attribute verdicts of
``fairness_report`` (``lib.evaluation.policy.FairnessPolicy``). Import-light (pydantic only).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from churn_assets.lib.evaluation.policy import BOOTSTRAP_RESAMPLES, SEED

# enforce: promote when every criterion passes; approve: then wait for a person
# (lib.registry.approval); dry_run: decide, change nothing; force: promote, reason required.
Mode = Literal["enforce", "approve", "dry_run", "force"]
# Outcomes that leave the champion where it is: a decision, alerted once as `gate_rejected`.
REJECTIONS = ("rejected", "dry_run_reject")
# Outcomes after which this run has nothing to build: rejections, and a candidate waiting for
# approval (the approve_candidate job builds it once approved).
NOTHING_TO_BUILD = (*REJECTIONS, "pending_approval")

# One asset check per group of criteria: name -> what it verifies. Not blocking: a failed
# criterion is the gate's decision (a rejection is recorded and nothing is moved), not a
# failure of the run; churn_bento then has nothing to build (docs/architecture.md).
QUALITY_FLOORS = "gate_quality_floors"
NO_REGRESSION = "gate_no_regression"
FAIRNESS = "gate_fairness"
MODEL_CARD_COMPLETE = "gate_model_card_complete"
CHECKS = {
    QUALITY_FLOORS: "Test ROC-AUC and PR-AUC (as lift over the churn rate) at least, "
    "Brier at most, the configured floors.",
    NO_REGRESSION: "Shown not worse than the current champion by more than the margin: the "
    "lower end of the paired-bootstrap 95% interval of the AUC difference, on test rows the "
    "champion never saw.",
    FAIRNESS: "Per sensitive attribute, the criterion its contract chose (default equal "
    "opportunity: churners of every group offered at similar rates) within its limit, as "
    "judged by fairness_report; groups too small to judge are reported, not judged.",
    MODEL_CARD_COMPLETE: "The model card has every required section, filled from real numbers.",
}


class GatePolicy(BaseModel):
    """Quality floors, the regression margins and the paired bootstrap behind them."""

    min_roc_auc: float = Field(0.70, description="test ROC-AUC at least this")
    min_pr_auc_lift: float = Field(
        2.0, description="test PR-AUC at least this many times the churn rate"
    )
    max_brier: float = Field(0.20, description="test Brier score at most this")
    regression_margin: float = Field(
        0.02,
        description="tolerance: the lower end of the paired-bootstrap 95% interval of the "
        "ROC-AUC difference (challenger - champion) must be at least minus this",
    )
    segment_margin: float = Field(
        0.05, description="largest ROC-AUC loss allowed on any contract slice"
    )
    segment_min_rows: int = Field(200, description="slices with fewer rows are not judged")
    n_bootstrap: int = Field(BOOTSTRAP_RESAMPLES, description="paired bootstrap resamples")
    seed: int = Field(SEED, description="seed of the paired bootstrap")
    approval_ttl_hours: float = Field(
        72.0,
        gt=0,
        description="approve mode: how long a passed candidate waits for a person before "
        "it expires",
    )
