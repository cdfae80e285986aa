"""How each kind of declared feature is computed, once for columns and once for one record.

A :class:`~churn_assets.lib.features.declared.FeatureSpec` is plain data (it is pickled with
the fitted pipeline); :func:`compile_feature` turns it into two functions built from the same
parameters, side by side below so they cannot drift apart:

- ``compute(columns)``: NumPy columns (float64 with NaN for numeric fields, object arrays for
  categorical ones), for the pandas pipeline and batch scoring;
- ``compute_row(row)``: one record of Python values, for the service's single-customer path,
  where NumPy's per-call overhead on 1-element arrays costs more than the arithmetic.

Both follow IEEE arithmetic in the same order (division, product and difference of Python
floats are NumPy's; ``log1p`` calls NumPy's on the scalar), so they agree exactly; the
parity tests hold them equal on thousands of random rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from churn_assets.lib.features.declared import Condition, FeatureSpec

Columns = Mapping[str, np.ndarray]
Row = Mapping[str, Any]
NAN = float("nan")
MISSING_LABEL = "nan"  # what bucket and cross give a missing input (as pandas.cut + astype(str))


@dataclass(frozen=True)
class CompiledFeature:
    """A declared feature ready to compute: its name, output type and its two paths."""

    name: str
    output: str  # "numeric" or "categorical"
    compute: Callable[[Columns], np.ndarray]
    compute_row: Callable[[Row], Any]


def _float(value: Any) -> float:
    return NAN if value is None else float(value)


def _text(value: Any) -> str:
    return MISSING_LABEL if value is None or value != value else str(value)


def _texts(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.where(pd.isna(values), MISSING_LABEL, values).astype(str)


# ---------------------------------------------------------------------- conditions
def condition_columns(cond: Condition) -> Callable[[Columns], np.ndarray]:
    """The boolean column of a condition (a missing value satisfies none but ``not_*``)."""
    col, op, value = cond.column, cond.op, cond.value
    if op == "contains":
        return lambda cols: np.char.find(cols[col].astype(str), value) >= 0
    if op in ("in", "not_in"):
        allowed = frozenset(value)
        negate = op == "not_in"
        if cond.numeric:
            members = np.asarray(sorted(allowed), dtype=np.float64)
            return lambda cols: np.isin(cols[col], members, invert=negate)
        return lambda cols: np.fromiter(
            ((v in allowed) != negate for v in cols[col]), dtype=bool, count=len(cols[col])
        )
    compare = {
        "equals": np.equal,
        "not_equals": np.not_equal,
        "gt": np.greater,
        "ge": np.greater_equal,
        "lt": np.less,
        "le": np.less_equal,
    }[op]
    return lambda cols: np.asarray(compare(cols[col], value), dtype=bool)


def condition_row(cond: Condition) -> Callable[[Row], bool]:
    """:func:`condition_columns` for one record."""
    col, op, value = cond.column, cond.op, cond.value
    if op == "contains":
        return lambda row: value in str(row[col])
    if cond.numeric:
        if op in ("in", "not_in"):
            allowed, negate = frozenset(value), op == "not_in"
            return lambda row: (_float(row[col]) in allowed) != negate
        return {
            "equals": lambda row: _float(row[col]) == value,
            "not_equals": lambda row: _float(row[col]) != value,
            "gt": lambda row: _float(row[col]) > value,
            "ge": lambda row: _float(row[col]) >= value,
            "lt": lambda row: _float(row[col]) < value,
            "le": lambda row: _float(row[col]) <= value,
        }[op]
    if op in ("in", "not_in"):
        allowed, negate = frozenset(value), op == "not_in"
        return lambda row: (row[col] in allowed) != negate
    if op == "equals":
        return lambda row: row[col] == value
    return lambda row: row[col] != value  # not_equals (validation allows nothing else here)


# ---------------------------------------------------------------------- kinds
def _ratio(spec: FeatureSpec) -> tuple[Callable, Callable]:
    num, den = spec.param("numerator"), spec.param("denominator")
    floor, fill, clip = spec.param("min_denominator"), spec.param("fill"), spec.param("clip")
    when = spec.conditions[0] if spec.conditions else None
    when_cols = condition_columns(when) if when else None
    when_row = condition_row(when) if when else None
    low, high = clip if clip else (None, None)

    def compute(cols: Columns) -> np.ndarray:
        d = cols[den] if floor is None else np.maximum(cols[den], floor)  # keeps NaN
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cols[num] / np.where(d > 0, d, np.nan)
        if when_cols is not None:
            r = np.where(when_cols(cols), r, np.nan)
        if fill is not None:
            r = np.where(np.isnan(r), fill, r)
        return np.clip(r, low, high) if clip else r

    def compute_row(row: Row) -> float:
        d = _float(row[den])
        if floor is not None and d < floor:
            d = floor
        r = _float(row[num]) / d if d > 0 else NAN
        if when_row is not None and not when_row(row):
            r = NAN
        if fill is not None and r != r:
            r = fill
        return min(max(r, low), high) if clip else r  # NaN stays NaN, as in np.clip

    return compute, compute_row


def _difference(spec: FeatureSpec) -> tuple[Callable, Callable]:
    (a, b), fill = spec.param("columns"), spec.param("fill")

    def compute(cols: Columns) -> np.ndarray:
        r = cols[a] - cols[b]
        return r if fill is None else np.where(np.isnan(r), fill, r)

    def compute_row(row: Row) -> float:
        r = _float(row[a]) - _float(row[b])
        return fill if fill is not None and r != r else r

    return compute, compute_row


def _log1p(spec: FeatureSpec) -> tuple[Callable, Callable]:
    col, fill = spec.param("column"), spec.param("fill")
    log1p = np.log1p  # NumPy's on both paths: math.log1p may differ in the last bit

    def compute(cols: Columns) -> np.ndarray:
        r = log1p(np.maximum(cols[col], 0.0))
        return r if fill is None else np.where(np.isnan(r), fill, r)

    def compute_row(row: Row) -> float:
        x = _float(row[col])
        if x != x:
            return NAN if fill is None else fill
        return float(log1p(x if x > 0.0 else 0.0))

    return compute, compute_row


def _bucket(spec: FeatureSpec) -> tuple[Callable, Callable]:
    col, edges, labels = spec.param("column"), spec.param("edges"), spec.param("labels")
    edge_array, label_array = np.asarray(edges, dtype=np.float64), np.asarray(labels, dtype=object)

    def compute(cols: Columns) -> np.ndarray:
        # Right-closed like pandas.cut: a value equal to an edge falls in the band below it.
        x = cols[col]
        bands = label_array[np.searchsorted(edge_array, x, side="left")]
        return np.where(np.isnan(x), MISSING_LABEL, bands).astype(object)

    def compute_row(row: Row) -> str:
        x = _float(row[col])
        return MISSING_LABEL if x != x else labels[bisect.bisect_left(edges, x)]

    return compute, compute_row


def _interaction(spec: FeatureSpec) -> tuple[Callable, Callable]:
    a, b = spec.param("columns")
    if spec.output == "numeric":
        return (lambda cols: cols[a] * cols[b]), (lambda row: _float(row[a]) * _float(row[b]))

    def compute(cols: Columns) -> np.ndarray:
        return np.char.add(np.char.add(_texts(cols[a]), "|"), _texts(cols[b])).astype(object)

    return compute, lambda row: _text(row[a]) + "|" + _text(row[b])


def _flag(spec: FeatureSpec) -> tuple[Callable, Callable]:
    cond_cols, cond_row = condition_columns(spec.conditions[0]), condition_row(spec.conditions[0])
    labels = spec.param("labels")
    if labels is None:
        return (
            lambda cols: cond_cols(cols).astype(np.float64),
            lambda row: 1.0 if cond_row(row) else 0.0,
        )
    yes, no = labels
    return (
        lambda cols: np.where(cond_cols(cols), yes, no).astype(object),
        lambda row: yes if cond_row(row) else no,
    )


def _count(spec: FeatureSpec) -> tuple[Callable, Callable]:
    cols_checks = [condition_columns(c) for c in spec.conditions]
    row_checks = tuple(condition_row(c) for c in spec.conditions)
    first = spec.conditions[0].column

    def compute(cols: Columns) -> np.ndarray:
        total = np.zeros(len(cols[first]), dtype=np.float64)
        for check in cols_checks:
            total += check(cols)
        return total

    def compute_row(row: Row) -> float:
        return float(sum([check(row) for check in row_checks]))

    return compute, compute_row


BUILDERS: dict[str, Callable[[FeatureSpec], tuple[Callable, Callable]]] = {
    "ratio": _ratio,
    "difference": _difference,
    "log1p": _log1p,
    "bucket": _bucket,
    "interaction": _interaction,
    "flag": _flag,
    "count": _count,
}


def compile_feature(spec: FeatureSpec) -> CompiledFeature:
    """The column and row functions of one declared feature."""
    compute, compute_row = BUILDERS[spec.kind](spec)
    return CompiledFeature(spec.name, spec.output, compute, compute_row)
