"""Group fairness of the decision (offer / no offer) over the contract's sensitive attributes.

fairlearn's ``MetricFrame`` gives selection rate, true positive rate and false positive rate
per group; the demographic parity difference (gap in offer rates) and the equalized odds
difference (the larger of the TPR and FPR gaps) summarise each attribute and are compared with
the limits of a ``FairnessPolicy``. The promotion gate takes these verdicts as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.policy import FairnessPolicy
    from churn_assets.lib.training.champion import ChampionCandidate


@dataclass
class FairnessResult:
    """Per-group rates and per-attribute disparities with their verdicts."""

    by_group: pd.DataFrame  # attribute, group, rows, selection_rate, tpr, fpr
    summary: pd.DataFrame  # attribute, demographic_parity_difference, equalized_odds_difference,
    #                        and whether each is within its limit
    model_uri: str | None = None  # the MLflow model whose decisions were assessed

    @property
    def passed(self) -> bool:
        """True when every attribute is within both limits."""
        return bool(self.summary[["dp_within_limit", "eo_within_limit"]].all().all())


def assess(
    frame: pd.DataFrame,
    y: np.ndarray,
    decision: np.ndarray,
    sensitive: list[str],
    limits: FairnessPolicy,
) -> FairnessResult:
    """Fairness of binary decisions across each sensitive attribute present in ``frame``.

    Raises:
        ValueError: when none of the sensitive attributes is in ``frame``.
    """
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    max_dp_difference = limits.max_demographic_parity_difference
    max_eo_difference = limits.max_equalized_odds_difference
    present = [c for c in sensitive if c in frame]
    if not present:
        raise ValueError(f"none of the sensitive attributes {sensitive} is in the data")
    y = np.asarray(y).astype(int)
    decision = np.asarray(decision).astype(int)
    groups, rows = [], []
    for attribute in present:
        values = frame[attribute].astype(str).to_numpy()
        metrics = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
            },
            y_true=y,
            y_pred=decision,
            sensitive_features=values,
        )
        table = metrics.by_group.reset_index().rename(columns={"sensitive_feature_0": "group"})
        table.insert(0, "attribute", attribute)
        counts = pd.Series(values).value_counts()
        table.insert(2, "rows", table["group"].map(counts).astype(int))
        groups.append(table)
        dp = float(demographic_parity_difference(y, decision, sensitive_features=values))
        eo = float(equalized_odds_difference(y, decision, sensitive_features=values))
        rows.append(
            {
                "attribute": attribute,
                "demographic_parity_difference": dp,
                "dp_limit": max_dp_difference,
                "dp_within_limit": dp <= max_dp_difference,
                "equalized_odds_difference": eo,
                "eo_limit": max_eo_difference,
                "eo_within_limit": eo <= max_eo_difference,
            }
        )
    return FairnessResult(pd.concat(groups, ignore_index=True), pd.DataFrame(rows))


def assess_candidate(
    champion: ChampionCandidate,
    test_set: pd.DataFrame,
    target: str,
    sensitive: list[str],
    limits: FairnessPolicy,
) -> FairnessResult:
    """Fairness of the champion candidate's offer decisions on the test rows."""
    result = assess(
        test_set, test_set[target].to_numpy(), champion.predict(test_set), sensitive, limits
    )
    result.model_uri = champion.mlflow_model_uri
    return result


def publish(result: FairnessResult, folder: Path) -> None:
    """The summary and per-group tables as CSV files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(folder / "summary.csv", index=False)
    result.by_group.to_csv(folder / "by_group.csv", index=False)
