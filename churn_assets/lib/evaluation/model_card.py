"""Model cards generated from the real numbers (no hand-typed metric anywhere).

The card is Markdown (rendered to a self-contained HTML page as well). Everything on it comes
from asset inputs (the evaluation report whose numbers were logged to MLflow, the fairness
report, the explanations, the splits), the contract and the candidate's MLflow runs: never
from files another step left on disk, so every step may run on its own machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churn_assets.lib import reports

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.evaluation.fairness import FairnessResult
    from churn_assets.lib.evaluation.report import EvaluationReport
    from churn_assets.lib.training.champion import ChampionCandidate

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
    fairness: pd.DataFrame  # fairness_table(): one row per sensitive attribute
    top_features: pd.DataFrame
    decision: str = PENDING
    fairness_note: str = ""  # how the criteria were judged, and the fairness-vs-profit frontier


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
ROC-AUC on the training rows) and a stacked ensemble of them; best candidate on validation:
**{inputs.family}**; calibration:
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
{inputs.fairness_note}

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


def fairness_table(result: FairnessResult) -> pd.DataFrame:
    """The card's fairness table: the judged criterion, its value (95% interval), limit and
    verdict, the other two gaps beside it, and the groups that were too small to judge."""
    rows = []
    for row in result.summary.to_dict("records"):
        judged = pd.notna(row["value"])
        rows.append(
            {
                "attribute": row["attribute"],
                "criterion": row["criterion"],
                "judged value (95% CI)": (
                    f"{row['value']:.3f} ({row['ci_low']:.3f}-{row['ci_high']:.3f})"
                    if judged
                    else "-"
                ),
                "limit": row["limit"],
                "verdict": row["verdict"],
                "passed": bool(row["passed"]),
                "DP difference": round(row["demographic_parity_difference"], 3),
                "TPR gap": round(row["equal_opportunity_difference"], 3),
                "EO difference": round(row["equalized_odds_difference"], 3),
                "groups not judged": row["not_judged"] or "-",
            }
        )
    return pd.DataFrame(rows)


def fairness_note(result: FairnessResult) -> str:
    """How the verdicts were reached and, when measured, what meeting the policy costs."""
    judged_on = set(result.summary["judged_on"])
    how = (
        "an attribute fails when the lower end of its gap's 95% bootstrap interval is above "
        "its limit, i.e. when the data show the gap is too large"
        if judged_on == {"interval"}
        else "an attribute fails when its measured gap is above its limit"
    )
    groups = "; ".join(
        f"{r['attribute']}: {r['binning']}" for r in result.summary.to_dict("records")
    )
    lines = [
        "",
        f"Only each attribute's criterion is judged: {how}. DP (offer rates) and EO (true and "
        f"false positive rates) are reported beside it. Groups: {groups}. See "
        "docs/fairness.md.",
    ]
    if result.frontier_note:
        lines += ["", result.frontier_note]
    return "\n".join(lines)


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


def incomplete_sections(card: str) -> list[str]:
    """Required sections still missing before the gate fills in its decision."""
    return [s for s in missing_sections(card) if s != "Promotion decision"]


def with_decision(card: str, decision: str) -> str:
    """The card with the gate's decision in place of the pending marker."""
    return card.replace(PENDING, decision)


def to_html(card: str, title: str) -> str:
    """A self-contained HTML page of the card."""
    import markdown

    return reports.page(title, markdown.markdown(card, extensions=["tables"]), heading=False)


def source_params(run_id: str) -> dict[str, Any]:
    """The tuned family's best parameters, from the run the candidate was selected from
    (tag ``source_run_id`` on the candidate's MLflow run); for a stacked ensemble, every
    member's, as ``<family>.<param>`` (tag ``member_run_ids``: family -> tuning run)."""
    import json

    from mlflow import MlflowClient

    client = MlflowClient()
    tags = client.get_run(run_id).data.tags

    def best(source: str, prefix: str = "") -> dict[str, Any]:
        params = client.get_run(source).data.params
        return {
            prefix + k.removeprefix("best."): v for k, v in params.items() if k.startswith("best.")
        }

    if members := tags.get("member_run_ids"):
        out: dict[str, Any] = {}
        for family, source in json.loads(members).items():
            if source:
                out.update(best(source, f"{family}."))
        return out
    source = tags.get("source_run_id")
    return best(source) if source else {}


def build_card(
    *,
    model_name: str,
    champion: ChampionCandidate,
    contract: DataContract,
    data_source: str,
    evaluation: EvaluationReport,
    fairness: FairnessResult,
    importance: pd.DataFrame,
    validated: pd.DataFrame,
    quarantined_rows: int,
    splits: dict[str, pd.DataFrame],
    target: str,
) -> str:
    """The candidate's card (decision pending) from its reports and its data."""
    run_id = champion.mlflow_run_id or ""
    period = "n/a"
    if contract.event_time and contract.event_time in validated:
        times = validated[contract.event_time]
        period = f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}"
    costs = champion.costs
    inputs = CardInputs(
        model_name=model_name,
        family=champion.family,
        calibration=champion.calibration,
        threshold=champion.threshold,
        f1_threshold=champion.threshold_choice.f1_threshold,
        costs={
            "offer_cost": costs.offer_cost,
            "retained_value": costs.retained_value,
            "success_rate": costs.success_rate,
        },
        best_params=source_params(run_id) if run_id else {},
        mlflow_run_id=run_id,
        contract_name=contract.name,
        contract_table=contract.describe()[["column", "dtype", "role", "description"]],
        data={
            "source": data_source,
            "rows": len(validated),
            "quarantined": quarantined_rows,
            "period": period,
            "positive_rate": float(pd.concat(list(splits.values()))[target].mean()),
            **{name: len(frame) for name, frame in splits.items()},
        },
        test_metrics=evaluation.metrics.round(4),
        segments=evaluation.segments.round(4),
        fairness=fairness_table(fairness),
        top_features=importance.head(10).round(4),
        fairness_note=fairness_note(fairness),
    )
    return render(inputs)


def card_folder(reports_dir: Path, run_id: str | None) -> Path:
    """Where a candidate's card is written: one folder per MLflow run (``unlogged`` without)."""
    return reports_dir / "model_card" / (run_id or "unlogged")


def publish_card(card: str, folder: Path, run_id: str | None) -> Path:
    """Write the card as Markdown and HTML to ``folder`` and log both to the candidate's
    MLflow run (``model_card/``).

    Returns:
        The HTML page's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.md").write_text(card, encoding="utf-8")
    page = folder / "model_card.html"
    page.write_text(to_html(card, "Model card"), encoding="utf-8")
    if run_id:
        reports.log_folder(run_id, folder, "model_card")
    return page


def append_published(run_id: str, folder: Path, heading: str, text: str) -> Path:
    """Add a section to the card published on run ``run_id`` (a decision made after the
    gate's, e.g. an approval) and publish it again; the card is read from the run, so the
    step needs no local copy.

    Returns:
        The HTML page's path.
    """
    from mlflow import MlflowClient

    path = MlflowClient().download_artifacts(run_id, "model_card/model_card.md")
    card = Path(path).read_text(encoding="utf-8").rstrip()
    return publish_card(f"{card}\n\n## {heading}\n\n{text}\n", folder, run_id)
