"""One line per finished step: how far along the run is, how long it has taken, and the key
number of what the step produced (rows validated, trials run, best CV AUC, drift verdict)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from churn_assets.lib.console.facts import Check, markdown_rows, number


def count(value: Any) -> str:
    """An integer with thousands separators (``1,196``); other values as they are."""
    n = number(value)
    return f"{n:,.0f}" if n is not None and float(n).is_integer() else str(value)


def auc(value: Any) -> str:
    """A score to four places, as the metadata records it."""
    n = number(value)
    return f"{n:.4f}" if n is not None else "?"


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 7 s``, ``1 h 02 min``."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def interval(rows: list[dict[str, str]], metric: str) -> str:
    """``0.7422 [0.6329, 0.8487]`` from a metrics table's value, ci_low and ci_high."""
    for row in rows:
        if row.get("metric") == metric:
            low, high = row.get("ci_low"), row.get("ci_high")
            bounds = f" [{auc(low)}, {auc(high)}]" if low and high else ""
            return f"{auc(row.get('value'))}{bounds}"
    return "?"


def _raw(m: dict[str, Any]) -> str:
    bad = number(m.get("unparseable_lines")) or 0
    return f"{count(m.get('dagster/row_count'))} rows in" + (
        f", {count(bad)} unparseable lines" if bad else ""
    )


def _tuned(m: dict[str, Any]) -> str:
    trials = m.get("trials_this_run", m.get("trials_complete"))
    noun = "trial" if number(trials) == 1 else "trials"
    return f"{count(trials)} {noun}, best CV AUC {auc(m.get('best_cv_roc_auc'))}"


def _drift(m: dict[str, Any]) -> str:
    if m.get("breached"):
        return f"drift BREACHED (model v{m.get('model_version', '?')})"
    return f"no drift (model v{m.get('model_version', '?')})"


# Per asset: its key number from its own metadata.
HEADLINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "customer_source": lambda m: "source observed",
    # The validation step's second output: its count is in validated_customers' line.
    "quarantined_customers": lambda m: "",
    "raw_customers": _raw,
    "validated_customers": lambda m: (
        f"{count(m.get('rows_valid'))} validated, {count(m.get('rows_quarantined'))} quarantined"
    ),
    "customer_features": lambda m: f"{count(m.get('dagster/row_count'))} rows with features",
    "eda_report": lambda m: f"EDA of {count(m.get('rows'))} rows",
    "feature_preprocessor": lambda m: f"{count(m.get('output_features'))} model inputs",
    "champion_candidate": lambda m: (
        f"{m.get('family', '?')} chosen, validation AUC {auc(m.get('validation_roc_auc'))}"
    ),
    "drift_reference": lambda m: f"{count(m.get('rows'))} reference rows",
    "evaluation_report": lambda m: (
        "test ROC-AUC " + interval(markdown_rows(m.get("metrics")), "roc_auc")
    ),
    "explanations": lambda m: f"SHAP for {count(m.get('explained_rows'))} rows",
    "fairness_report": lambda m: (
        "fairness within limits" if m.get("within_limits") else "fairness OUTSIDE limits"
    ),
    "model_card": lambda m: (
        "model card complete"
        if not m.get("missing_sections")
        else f"model card missing {m.get('missing_sections')}"
    ),
    "promotion_decision": lambda m: f"gate: {m.get('outcome', '?')}",
    "churn_bento": lambda m: f"built {m.get('bento_tag', '?')}",
    "landed_batch": lambda m: f"{count(m.get('dagster/row_count'))} rows landed",
    "batch_scores": lambda m: f"{count(m.get('dagster/row_count'))} customers scored",
    "drift_report": _drift,
}


def headline(assets: dict[str, dict[str, Any]], checks: list[Check]) -> str:
    """The key number(s) of one step from what it materialized and the checks it ran."""
    parts: list[str] = []
    splits = [a for a in ("train_set", "validation_set", "test_set") if a in assets]
    if splits:
        parts.append(
            " / ".join(
                f"{a.split('_')[0]} {count(assets[a].get('dagster/row_count'))}" for a in splits
            )
        )
    for asset, metadata in assets.items():
        if asset in splits:
            continue
        if asset.startswith("tuned_"):
            parts.append(_tuned(metadata))
        elif asset in HEADLINES:
            parts.append(HEADLINES[asset](metadata))
        elif "dagster/row_count" in metadata:
            parts.append(f"{asset}: {count(metadata['dagster/row_count'])} rows")
    failed = [c for c in checks if not c.passed]
    # A step that decided not to materialize says why in its check's `skipped` metadata.
    parts += [f"skipped: {c.metadata['skipped']}" for c in checks if c.metadata.get("skipped")]
    if checks and not failed and not parts:
        parts.append(f"{len(checks)}/{len(checks)} checks passed")
    for check in failed:
        parts.append(
            f"check {check.name} FAILED"
            + (f" ({check.severity})" if check.severity != "ERROR" else "")
        )
    return "; ".join(dict.fromkeys(p for p in parts if p))


def progress_line(
    index: int, total: int, seconds: float, step: str, outcome: str, detail: str
) -> str:
    """``[ 7/23   1 min 02 s] tuned_logreg              2 trials, best CV AUC 0.8077``."""
    width = len(str(total))
    mark = "" if outcome == "succeeded" else f"{outcome.upper()}: "
    return f"[{index:>{width}}/{total} {duration(seconds):>10}] {step:<44} {mark}{detail}".rstrip()
