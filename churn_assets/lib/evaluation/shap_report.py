"""The explanations report: SHAP per contract field on a bounded sample of test rows.

Global importance, a beeswarm and example per-customer top reasons, written with the same
``FieldExplainer`` that serving and batch scoring use (``lib.evaluation.explain``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churn_assets.lib import reports

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.policy import ExplanationPolicy
    from churn_assets.lib.training.champion import ChampionCandidate

EXAMPLE_CUSTOMERS = 5


@dataclass
class ShapReport:
    """What the explanations found on the sampled rows."""

    explainer: str  # tree | linear
    explained_rows: int
    importance: pd.DataFrame  # feature, mean_abs_shap (largest first)
    example_reasons: pd.DataFrame  # customer, rank, feature, value, contribution
    pngs: dict[str, bytes] = field(default_factory=dict)


def explain_candidate(
    champion: ChampionCandidate,
    train_set: pd.DataFrame,
    test_set: pd.DataFrame,
    id_column: str,
    policy: ExplanationPolicy,
) -> ShapReport:
    """SHAP contributions of the champion on a sample of test rows (background: train rows)."""
    from churn_assets.lib.evaluation.explain import (
        FieldExplainer,
        beeswarm_png,
        global_importance,
        importance_png,
    )

    columns, seed = champion.input_columns, policy.seed
    explainer = FieldExplainer(champion.model, train_set[columns], policy.background_rows, seed)
    sample = test_set.sample(n=min(policy.sample_rows, len(test_set)), random_state=seed)
    contributions = explainer.contributions(sample[columns])
    importance = global_importance(contributions)
    examples = sample.head(EXAMPLE_CUSTOMERS)
    reasons = explainer.top_reasons(examples[columns])
    reason_rows = pd.DataFrame(
        [
            {
                "customer": customer,
                "rank": rank + 1,
                "feature": r["feature"],
                "value": str(r["value"]),
                "contribution": round(r["contribution"], 4),
            }
            for customer, row in zip(examples[id_column], reasons, strict=True)
            for rank, r in enumerate(row)
        ]
    )
    return ShapReport(
        explainer=explainer.kind,
        explained_rows=len(sample),
        importance=importance,
        example_reasons=reason_rows,
        pngs={
            "importance": importance_png(importance),
            "beeswarm": beeswarm_png(contributions, sample[columns]),
        },
    )


def publish(report: ShapReport, folder: Path, run_id: str | None) -> None:
    """The plots and the importance table in ``folder``, logged to the candidate's MLflow run
    (``explanations/``) when it has one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in report.pngs.items():
        (folder / f"{name}.png").write_bytes(png)
    report.importance.to_csv(folder / "global_importance.csv", index=False)
    if run_id:
        reports.log_folder(run_id, folder, "explanations")
