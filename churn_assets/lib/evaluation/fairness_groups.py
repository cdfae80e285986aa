"""The groups of a sensitive attribute and their rates: how a column becomes groups (values,
the contract's bands or quantile bins) and, per group, the counts the bootstrap resamples and
fairlearn's ``MetricFrame`` rates, with whether the group is large enough to be judged
(:mod:`churn_assets.lib.evaluation.fairness` judges them)."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.fairness_policy import AttributeRule


def _nice(value: float) -> float:
    """``value`` rounded to two significant figures (edges a reader can name)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, 1 - math.floor(math.log10(abs(value))))


def _label(value: float) -> str:
    return f"{value:g}"


def groups_of(values: pd.Series, rule: AttributeRule) -> tuple[pd.Categorical, str]:
    """The group label of every row, and how the groups were formed.

    A band ``a-b`` holds ``a <= value < b`` (the last declared band includes ``b``).
    """
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    distinct = values.dropna().nunique()
    if rule.bands is None and (not numeric or distinct <= rule.max_categorical_values):
        labels = values.astype(object).where(values.notna(), "missing").astype(str)
        return pd.Categorical(labels), "values"
    x = values.astype(float).to_numpy()
    if rule.bands is not None:
        edges = list(rule.bands)
        names = [f"{_label(a)}-{_label(b)}" for a, b in itertools.pairwise(edges)]
        cuts = [-np.inf, *edges[:-1], np.nextafter(edges[-1], np.inf), np.inf]
        names = [f"<{_label(edges[0])}", *names, f">{_label(edges[-1])}"]
        how = f"bands from the contract: {', '.join(names[1:-1])}"
    else:
        quantiles = np.nanquantile(x, np.linspace(0, 1, rule.bins + 1)[1:-1])
        inner = sorted({_nice(float(q)) for q in quantiles})
        low, high = _nice(float(np.nanmin(x))), _nice(float(np.nanmax(x)))
        inner = [e for e in inner if low < e <= high]
        bounds = [low, *inner, high]
        names = [f"{_label(a)}-{_label(b)}" for a, b in itertools.pairwise(bounds)]
        cuts = [-np.inf, *inner, np.inf]
        how = (
            f"{rule.bins} quantile bins, edges from the judged rows rounded to 2 significant "
            f"figures: {', '.join(names)}"
        )
    index = np.searchsorted(np.asarray(cuts[1:-1]), x, side="right")
    labels = np.asarray(names, dtype=object)[index]
    labels[np.isnan(x)] = "missing"
    # Categorical in band order, so tables list "8-29" before "29-56".
    order = [n for n in [*names, "missing"] if n in set(labels)]
    return pd.Categorical(labels, categories=order), how


def group_table(
    y: np.ndarray, decision: np.ndarray, labels: pd.Categorical, rule: AttributeRule
) -> pd.DataFrame:
    """Per group: counts (what the bootstrap resamples) and fairlearn's ``MetricFrame`` rates
    (selection rate, TPR, FPR; NaN where a group has no churners or no non-churners)."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    present = pd.Categorical(labels).remove_unused_categories()
    frame = pd.DataFrame({"group": present, "y": y, "d": decision})
    frame["tp"] = frame["y"] & frame["d"]
    frame["fp"] = (1 - frame["y"]) & frame["d"]
    table = frame.groupby("group", sort=True, observed=True).agg(
        positives=("y", "sum"), offers=("d", "sum"), tp=("tp", "sum"), fp=("fp", "sum")
    )

    def rate(metric):  # fairlearn warns and returns 0 for an empty class: NaN is honest here
        def guarded(y_true, y_pred):
            needed = 1 if metric is true_positive_rate else 0
            if (
                metric in (true_positive_rate, false_positive_rate)
                and not (np.asarray(y_true) == needed).any()
            ):
                return float("nan")
            return metric(y_true, y_pred)

        return guarded

    rates = MetricFrame(
        metrics={
            "rows": count,
            "selection_rate": selection_rate,
            "tpr": rate(true_positive_rate),
            "fpr": rate(false_positive_rate),
        },
        y_true=y,
        y_pred=decision,
        sensitive_features=pd.Series(present, name="group"),
    ).by_group
    # In band order ("8-29" before "29-56"), as the counts are; fairlearn sorts the labels.
    table = table.join(rates.reindex(table.index.astype(str)).set_axis(table.index))
    table["rows"] = table["rows"].astype(int)
    table["negatives"] = table["rows"] - table["positives"]
    table = table[
        ["rows", "positives", "offers", "tp", "fp", "negatives", "selection_rate", "tpr", "fpr"]
    ]
    notes = []
    for rows, pos, neg in table[["rows", "positives", "negatives"]].itertuples(index=False):
        notes.append(_why_not(rule, rows, pos, neg))
    table["judged"] = [not n for n in notes]
    table["note"] = [f"not judged: {n}" if n else "" for n in notes]
    table = table.reset_index()
    table["group"] = table["group"].astype(str)
    return table


def _why_not(rule: AttributeRule, rows: int, positives: int, negatives: int) -> str:
    if rows < rule.min_group_rows:
        return f"{rows} rows < {rule.min_group_rows}"
    needs_positives = rule.criterion in ("equal_opportunity", "equalized_odds")
    if needs_positives and positives < rule.min_group_positives:
        return f"{positives} churners < {rule.min_group_positives}"
    if rule.criterion == "equalized_odds" and negatives < rule.min_group_positives:
        return f"{negatives} non-churners < {rule.min_group_positives}"
    return ""
