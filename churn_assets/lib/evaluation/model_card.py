"""Model cards generated from the real numbers (no hand-typed metric anywhere).

The card is Markdown (rendered to a self-contained HTML page as well). Its metrics are read
back from the MLflow run the evaluation logged them to, so the card and MLflow cannot
disagree; the rest comes from the contract, the candidate and the fairness assessment.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

REQUIRED_SECTIONS = (
    "Intended use",
    "Data",
    "Features",
    "Training procedure",
    "Metrics",
    "Slices",
    "Fairness",
    "Top features",
    "Limitations and caveats",
    "Promotion decision",
)
PENDING = "_pending: decided by the promotion gate_"


@dataclass
class CardInputs:
    """Everything a card is built from."""

    model_name: str
    family: str
    calibration: str
    threshold: float
    f1_threshold: float
    costs: dict[str, float]
    best_params: dict[str, Any]
    mlflow_run_id: str
    contract_name: str
    contract_table: pd.DataFrame
    data: dict[str, Any]  # source, rows, period, positive_rate, split sizes
    test_metrics: pd.DataFrame  # metric, value, ci_low, ci_high (from MLflow / evaluation)
    segments: pd.DataFrame
    fairness: pd.DataFrame
    top_features: pd.DataFrame
    decision: str = PENDING


def _table(frame: pd.DataFrame) -> str:
    # An undefined value (e.g. AUC on a slice with one class) reads "n/a", not "nan".
    shown = frame.astype(object).where(frame.notna(), "n/a")
    return shown.to_markdown(index=False) if len(frame) else "_none_"


def render(inputs: CardInputs) -> str:
    """The card as Markdown."""
    d = inputs.data
    params = "\n".join(f"- `{k}` = {v}" for k, v in sorted(inputs.best_params.items()))
    return f"""# Model card: {inputs.model_name} ({inputs.family})

## Intended use
Ranks active customers by the probability that they leave before the next monthly snapshot,
so a retention team can decide whom to make an offer. A customer is flagged when the
calibrated score is at least **{inputs.threshold:.4f}**, the threshold that maximises expected
retention profit under the cost model (offer cost {inputs.costs["offer_cost"]}, value of a
retained customer {inputs.costs["retained_value"]}, offer success rate
{inputs.costs["success_rate"]}). Not for: pricing, credit or any decision about a
customer's rights; the score says who is at risk, not who will respond to an offer.

## Data
- Source: {d["source"]} (contract `{inputs.contract_name}`)
- Rows: {d["rows"]:,} validated ({d["quarantined"]:,} quarantined); period {d["period"]}
- Class balance: {d["positive_rate"]:.1%} churners
- Split: train {d["train"]:,} / validation {d["validation"]:,} / test {d["test"]:,} rows

## Features
{_table(inputs.contract_table)}

## Training procedure
Optuna search over logistic regression, random forest, XGBoost and LightGBM (cross-validated
ROC-AUC on the training rows); best family on validation: **{inputs.family}**; calibration:
**{inputs.calibration}** (lowest out-of-fold Brier score on validation); F1-optimal threshold
{inputs.f1_threshold:.4f} for reference. Best parameters:
{params or "- (none)"}

MLflow run: `{inputs.mlflow_run_id}`.

## Metrics
Held-out test rows, 95% bootstrap intervals.

{_table(inputs.test_metrics)}

## Slices
{_table(inputs.segments)}

## Fairness
{_table(inputs.fairness)}

## Top features
Mean |SHAP| per contract field on a sample of test rows.

{_table(inputs.top_features)}

## Limitations and caveats
- Trained on the data described above; performance on other populations, products or
  periods is unknown until measured (drift monitoring watches for it).
- The threshold depends on the cost model; if offer costs or customer values change, so
  does the right threshold.
- Sensitive attributes may be model inputs (see Features); fairness is measured, not assumed,
  and proxies remain even if they are dropped.
- Correlational: features associated with churn are not necessarily its causes.

## Promotion decision
{inputs.decision}
"""


def missing_sections(card: str) -> list[str]:
    """Required sections that are absent or empty (``_none_`` / NaN content)."""
    missing = []
    for name in REQUIRED_SECTIONS:
        marker = f"## {name}\n"
        if marker not in card:
            missing.append(name)
            continue
        body = card.split(marker, 1)[1].split("\n## ", 1)[0].strip()
        if not body or body == "_none_" or " nan " in f" {body} ":
            missing.append(name)
    return missing


def to_html(card: str, title: str) -> str:
    """A self-contained HTML page of the card."""
    import markdown

    body = markdown.markdown(card, extensions=["tables"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
</style></head><body>{body}</body></html>"""
