"""Automated exploratory data analysis of a validated churn table.

Two reports come out: Evidently's data summary (per-column statistics and distributions,
rendered by Evidently), and a churn-specific page written here with what Evidently does not
compute: the target balance, missingness, mutual information and correlation of each feature
with the target, and churn rate by category. Statistics that grow with the data (mutual
information, plots) use a bounded random sample, so the cost stays flat as data grows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churn_assets.lib import reports
from churn_assets.lib.contract import DataContract

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_SAMPLE_ROWS = 50_000


@dataclass
class EdaResult:
    """Key numbers, tables and figures of one EDA run."""

    rows: int
    sampled_rows: int
    positive_rate: float
    missingness: pd.DataFrame  # column, null_share
    # feature, kind, mutual_information, correlation (numeric features only)
    target_association: pd.DataFrame
    churn_by_category: pd.DataFrame  # feature, value, rows, churn_rate
    figures: dict[str, Figure] = field(default_factory=dict)


def evidently_definition(contract: DataContract, columns: list[str] | pd.Index):
    """Evidently's ``DataDefinition`` for the columns of a frame, from the contract's roles."""
    from evidently import DataDefinition

    present = set(columns)
    numeric = [c for c in contract.numeric_features if c in present]
    categorical = [c for c in contract.categorical_features if c in present]
    if contract.target.column in present:
        categorical.append(contract.target.column)
    return DataDefinition(
        id_column=contract.id_column if contract.id_column in present else None,
        timestamp=contract.event_time if contract.event_time in present else None,
        numerical_columns=numeric,
        categorical_columns=categorical,
    )


def analyse(
    frame: pd.DataFrame,
    contract: DataContract,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
) -> EdaResult:
    """Compute the churn-specific EDA of a validated table.

    Args:
        frame: validated rows (contract columns, contract dtypes).
        contract: the dataset's contract.
        sample_rows: at most this many rows feed mutual information and plots.
        seed: sampling seed.
    """
    from sklearn.feature_selection import mutual_info_classif

    target = contract.target.encode(frame[contract.target.column])
    sample = frame.sample(n=min(sample_rows, len(frame)), random_state=seed)
    y = target.loc[sample.index].to_numpy()

    missingness = (
        frame[contract.columns if set(contract.columns) <= set(frame) else frame.columns]
        .isna()
        .mean()
        .rename_axis("column")
        .reset_index(name="null_share")
        .sort_values("null_share", ascending=False, kind="stable")
    )

    features = [c for c in contract.feature_columns if c in frame]
    categorical = [c for c in contract.categorical_features if c in frame]
    encoded = pd.DataFrame(index=sample.index)
    for col in features:
        if col in categorical:
            encoded[col] = pd.factorize(sample[col])[0]
        else:
            encoded[col] = sample[col].astype(float).fillna(sample[col].median())
    discrete = np.array([c in categorical for c in features])
    mi = mutual_info_classif(encoded[features], y, discrete_features=discrete, random_state=seed)
    # Pearson correlation only means something for numeric columns (not factorized codes).
    correlation = [
        float(np.corrcoef(encoded[c], y)[0, 1])
        if c not in categorical and encoded[c].std() > 0
        else np.nan
        for c in features
    ]
    association = (
        pd.DataFrame(
            {
                "feature": features,
                "kind": ["categorical" if d else "numeric" for d in discrete],
                "mutual_information": np.round(mi, 4),
                "correlation": np.round(correlation, 4),
            }
        )
        .sort_values("mutual_information", ascending=False)
        .reset_index(drop=True)
    )

    by_category = []
    for col in categorical:
        grouped = target.groupby(frame[col].to_numpy()).agg(["size", "mean"])
        for value, (size, rate) in grouped.iterrows():
            by_category.append(
                {"feature": col, "value": value, "rows": int(size), "churn_rate": float(rate)}
            )
    churn_by_category = pd.DataFrame(by_category)

    result = EdaResult(
        rows=len(frame),
        sampled_rows=len(sample),
        positive_rate=float(target.mean()),
        missingness=missingness,
        target_association=association,
        churn_by_category=churn_by_category,
    )
    result.figures = _figures(result, sample, y, contract)
    return result


def _figures(
    result: EdaResult, sample: pd.DataFrame, y: np.ndarray, contract: DataContract
) -> dict[str, Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Figure] = {}
    target = contract.target

    fig, ax = plt.subplots(figsize=(4, 3))
    counts = [(y == 0).sum(), (y == 1).sum()]
    ax.bar([str(target.negative), str(target.positive)], counts, color=["#4c72b0", "#dd8452"])
    ax.set_title(f"{target.column}: {result.positive_rate:.1%} positive")
    ax.set_ylabel("rows (sample)")
    figures["target_balance"] = fig

    top = result.target_association.head(12).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(top["feature"], top["mutual_information"], color="#55a868")
    ax.set_title("Mutual information with the target")
    ax.set_xlabel("nats")
    figures["mutual_information"] = fig

    top_categorical = [
        f for f in result.target_association["feature"] if f in contract.categorical_features
    ][:4]
    if top_categorical:
        fig, axes = plt.subplots(1, len(top_categorical), figsize=(4 * len(top_categorical), 3))
        for ax, col in zip(np.atleast_1d(axes), top_categorical, strict=True):
            part = result.churn_by_category[result.churn_by_category["feature"] == col]
            ax.bar(part["value"].astype(str), part["churn_rate"], color="#c44e52")
            ax.set_title(f"churn rate by {col}")
            ax.tick_params(axis="x", rotation=30, labelsize=7)
            ax.axhline(result.positive_rate, color="grey", linestyle="--", linewidth=1)
        fig.tight_layout()
        figures["churn_by_category"] = fig

    numeric = [c for c in contract.numeric_features if c in sample][:4]
    if numeric:
        fig, axes = plt.subplots(1, len(numeric), figsize=(4 * len(numeric), 3))
        for ax, col in zip(np.atleast_1d(axes), numeric, strict=True):
            values = sample[col].astype(float)
            for label, color in ((0, "#4c72b0"), (1, "#dd8452")):
                ax.hist(
                    values[y == label].dropna(),
                    bins=30,
                    alpha=0.6,
                    density=True,
                    color=color,
                    label=str(target.positive if label else target.negative),
                )
            ax.set_title(col)
            ax.legend(fontsize=7)
        fig.tight_layout()
        figures["numeric_by_class"] = fig
    return figures


def write_html(
    result: EdaResult,
    pngs: dict[str, bytes],
    path: Path,
    title: str,
    summary_report: str | None = None,
) -> Path:
    """Write a self-contained HTML page (images inlined) with the EDA's tables and plots."""
    link = (
        f'<p>Per-column statistics: <a href="{html.escape(summary_report)}">'
        "Evidently data summary</a></p>"
        if summary_report
        else ""
    )
    body = (
        f"<p>{result.rows:,} rows ({result.sampled_rows:,} sampled for mutual information and "
        f"plots); positive rate {result.positive_rate:.2%}.</p>{link}\n{reports.figures(pngs)}"
        f"\n<h2>Association with the target</h2>{reports.table(result.target_association)}"
        f"\n<h2>Missingness</h2>{reports.table(result.missingness)}"
        f"\n<h2>Churn rate by category</h2>{reports.table(result.churn_by_category)}"
    )
    return reports.write_page(path, title, body)


@dataclass
class EdaReport:
    """The EDA's numbers and where its two HTML pages were written."""

    result: EdaResult
    pngs: dict[str, bytes]
    page: Path
    evidently_summary: Path


def write_reports(
    frame: pd.DataFrame, contract: DataContract, folder: Path, seed: int = 0
) -> EdaReport:
    """Analyse ``frame``, then write Evidently's data summary and the churn EDA page (which
    links to it) into ``folder``."""
    from evidently import Dataset, Report
    from evidently.presets import DataSummaryPreset

    from churn_assets.lib.plots import figure_png

    result = analyse(frame, contract, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    # Evidently's summary is linear in rows; the same bounded sample keeps its cost flat.
    sample = frame.sample(n=result.sampled_rows, random_state=seed)
    dataset = Dataset.from_pandas(
        sample, data_definition=evidently_definition(contract, sample.columns)
    )
    summary = folder / "data_summary.html"
    Report([DataSummaryPreset()]).run(current_data=dataset).save_html(str(summary))
    pngs = {name: figure_png(fig) for name, fig in result.figures.items()}
    page = write_html(result, pngs, folder / "eda.html", f"EDA: {contract.name}", summary.name)
    return EdaReport(result, pngs, page, summary)
