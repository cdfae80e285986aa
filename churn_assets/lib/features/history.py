"""History features: per-customer lags, deltas, trends and snapshot counts, point-in-time.

Declared in the contract under ``metadata.churn_contract.history`` (needs ``event_time``)::

    history:
      - {name: charges_prev, kind: lag, column: MonthlyCharges}            # lag: 1 by default
      - {name: charges_delta, kind: delta, column: MonthlyCharges, lag: 1}  # now - lag ago
      - {name: charges_trend, kind: trend, column: MonthlyCharges, window: 3}
      - {name: months_seen, kind: count}

One definition, two steps that could each run on their own machine:

1. :func:`previous_values` turns a frame of snapshots into the *history inputs*: for each
   declared column ``c`` and each lag ``k`` it needs, ``c_prev{k}`` (the customer's value
   ``k`` snapshots earlier, strictly earlier in ``event_time``; NaN when there is none) and
   ``snapshots_before`` (how many earlier snapshots the customer has). A vectorised
   ``groupby(id).shift(k)`` over the time-sorted frame: a row never sees a later snapshot.
2. :func:`compile_history` computes each feature from the row's own value and its history
   inputs, for columns and for one record (the service's caller passes the history inputs
   as request fields, the same data contract as training), in the same IEEE order on both
   paths so they agree exactly.

A first snapshot gets NaN lags, deltas and trends (left to the pipeline's imputer, like any
null) and ``count`` 0. ``trend`` is the least-squares slope per snapshot over the row's own
value and the ``window - 1`` before it, over the points present (NaN below two points).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_assets.lib.contract import ContractError
from churn_assets.lib.features.kinds import NAN, CompiledFeature

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

COUNT_INPUT = "snapshots_before"
MAX_LAG = 12
# kind -> (required keys, optional keys); `name`, `kind`, `description` are always allowed.
HISTORY_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lag": (("column",), ("lag",)),
    "delta": (("column",), ("lag",)),
    "trend": (("column",), ("window",)),
    "count": ((), ()),
}


@dataclass(frozen=True)
class HistorySpec:
    """One validated history feature (plain data, picklable with a fitted pipeline)."""

    name: str
    kind: str
    column: str | None = None
    lag: int = 1  # lag and delta: how many snapshots back; trend: window - 1
    description: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """The history inputs (``c_prev{k}`` / ``snapshots_before``) the feature reads."""
        if self.kind == "count":
            return (COUNT_INPUT,)
        lags = range(1, self.lag + 1) if self.kind == "trend" else (self.lag,)
        return tuple(prev_name(self.column, k) for k in lags)


def prev_name(column: str, lag: int) -> str:
    """The history input holding ``column`` ``lag`` snapshots earlier."""
    return f"{column}_prev{lag}"


def parse_history(contract: DataContract) -> tuple[HistorySpec, ...]:
    """The contract's ``history`` declarations, validated.

    Raises:
        ContractError: naming the file, the entry and the key, for a contract without
            ``event_time``, an unknown kind or key, a column that is not a numeric feature,
            a lag or window out of range, or a name clashing with a column or a feature.
    """
    meta = (contract.schema.metadata or {}).get("churn_contract", {})
    raw = meta.get("history") or []
    where = f"{contract.path}: `history`"
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise ContractError(f"{where} must be a list of mappings, got {type(raw).__name__}")
    if not contract.event_time:
        raise ContractError(
            f"{where} needs the snapshot column: declare `event_time` (the column that orders "
            "a customer's snapshots) in `churn_contract`"
        )
    numeric = set(contract.numeric_features)
    taken = set(contract.columns) | {
        f.get("name") for f in meta.get("features") or [] if isinstance(f, dict)
    }
    specs: list[HistorySpec] = []
    for entry in raw:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise ContractError(f"{where}: each entry needs a `name` and a `kind`, got {entry!r}")
        fail = f"{where} entry {name!r}:"
        kind = entry.get("kind")
        if kind not in HISTORY_KINDS:
            raise ContractError(f"{fail} unknown kind {kind!r}; use one of {list(HISTORY_KINDS)}")
        required, optional = HISTORY_KINDS[kind]
        missing = [k for k in required if k not in entry]
        extra = sorted(set(entry) - {"name", "kind", "description", *required, *optional})
        if missing or extra:
            raise ContractError(
                f"{fail} kind {kind!r} takes {list(required)} (required) and {list(optional)}; "
                + (f"missing {missing}" if missing else f"unknown key(s) {extra}")
            )
        if name in taken:
            raise ContractError(f"{fail} the name is already a column or feature; rename it")
        taken.add(name)
        column = entry.get("column")
        if kind != "count" and column not in numeric:
            raise ContractError(
                f"{fail} `column` {column!r} is not a numeric feature column; use one of "
                f"{sorted(numeric)}"
            )
        key, low = ("window", 2) if kind == "trend" else ("lag", 1)
        value = entry.get(key, 3 if kind == "trend" else 1)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_LAG:
            raise ContractError(
                f"{fail} `{key}` must be a whole number from {low} to {MAX_LAG}, got {value!r}"
            )
        lag = value - 1 if kind == "trend" else value
        specs.append(HistorySpec(name, kind, column, lag, str(entry.get("description") or "")))
    clash = taken & set(history_inputs(specs))
    if clash:
        raise ContractError(f"{where}: {sorted(clash)} would clash with a history input; rename")
    return tuple(specs)


def history_inputs(specs: tuple[HistorySpec, ...] | list[HistorySpec]) -> list[str]:
    """Every history input the features read, in a stable order (the request's extra fields)."""
    return list(dict.fromkeys(i for s in specs for i in s.inputs))


def previous_values(
    frame: pd.DataFrame, id_column: str, time_column: str, specs: tuple[HistorySpec, ...]
) -> pd.DataFrame:
    """The history inputs of every row, from strictly earlier snapshots of the same customer.

    Returns a frame aligned with ``frame`` (same index). Vectorised: one stable sort by
    (id, time), one ``groupby().shift(k)`` per lag. Rows sharing a customer and a snapshot
    time (the contract's unique key forbids it) would see each other, so they are refused.
    """
    inputs = history_inputs(specs)
    if frame[[id_column, time_column]].duplicated().any():
        raise ValueError(
            f"history features need one row per ({id_column}, {time_column}); "
            "the frame repeats some: deduplicate it (validation does)"
        )
    order = np.lexsort((frame[time_column].to_numpy(), frame[id_column].to_numpy()))
    ordered = frame.iloc[order]
    groups = ordered.groupby(id_column, sort=False)
    out = pd.DataFrame(index=ordered.index)
    for name in inputs:
        if name == COUNT_INPUT:
            out[name] = groups.cumcount().astype("float64")
        else:
            column, lag = name.rsplit("_prev", 1)
            out[name] = groups[column].shift(int(lag)).astype("float64")
    return out.loc[frame.index]


def compile_history(spec: HistorySpec) -> CompiledFeature:
    """The column and row functions of one history feature (inputs: the row's own value and
    its history inputs)."""
    col = spec.column
    if spec.kind == "count":
        return CompiledFeature(
            spec.name,
            "numeric",
            lambda cols: np.asarray(cols[COUNT_INPUT], dtype=np.float64),
            lambda row: _float(row[COUNT_INPUT]),
        )
    prev = prev_name(col, spec.lag)
    if spec.kind == "lag":
        return CompiledFeature(
            spec.name, "numeric", lambda cols: cols[prev], lambda row: _float(row[prev])
        )
    if spec.kind == "delta":
        return CompiledFeature(
            spec.name,
            "numeric",
            lambda cols: cols[col] - cols[prev],
            lambda row: _float(row[col]) - _float(row[prev]),
        )
    # trend: x = 0 for the row itself, -k for k snapshots earlier; accumulated in one order.
    names = [col, *spec.inputs]

    def compute(cols: Mapping[str, np.ndarray]) -> np.ndarray:
        n = sx = sy = sxx = sxy = np.zeros(len(cols[col]), dtype=np.float64)
        for k, name in enumerate(names):
            y = cols[name]
            present = ~np.isnan(y)
            x = -float(k)
            yv = np.where(present, y, 0.0)
            n = n + present
            sx = sx + np.where(present, x, 0.0)
            sy = sy + yv
            sxx = sxx + np.where(present, x * x, 0.0)
            sxy = sxy + x * yv
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        return np.where(n >= 2, slope, np.nan)

    def compute_row(row: Mapping[str, Any]) -> float:
        n = sx = sy = sxx = sxy = 0.0
        for k, name in enumerate(names):
            y = _float(row[name])
            if y != y:
                continue
            x = -float(k)
            n += 1.0
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        return (n * sxy - sx * sy) / (n * sxx - sx * sx) if n >= 2 else NAN

    return CompiledFeature(spec.name, "numeric", compute, compute_row)


def _float(value: Any) -> float:
    return NAN if value is None else float(value)


def add_history(
    frame: pd.DataFrame, id_column: str, time_column: str, specs: tuple[HistorySpec, ...]
) -> pd.DataFrame:
    """A copy of ``frame`` with the history inputs and the history features appended."""
    out = frame.copy()
    if not specs:
        return out
    prev = previous_values(frame, id_column, time_column, specs)
    for name in prev.columns:
        out[name] = prev[name].to_numpy()
    columns = {c: out[c].to_numpy(dtype="float64", na_value=np.nan) for c in prev.columns}
    for spec in specs:
        if spec.column is not None:
            columns[spec.column] = out[spec.column].to_numpy(dtype="float64", na_value=np.nan)
        out[spec.name] = compile_history(spec).compute(columns)
    return out
