"""One vectorised answer to "does this row satisfy the contract", for column-oriented batches.

:func:`row_verdicts` takes a batch as columns (a pandas frame, a pyarrow table, or a mapping
of field -> sequence, with :data:`MISSING` marking a key a JSON record left out) and returns,
per bad row, its reasons: the field, the rule's error type (the same names pydantic reports
for :func:`~churn_assets.lib.serving.request_model.customer_model`), the class of the value
(never the value: ids must not reach responses or logs), and the rule in words. The verdicts
equal the per-row pydantic model's (``test_columnar.py`` holds them equal on the bad-request
table and on generated rows), so the service may validate a batch as columns instead of one
model per row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churn_assets.lib.contract import DataContract


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a field a record did not carry (not the same as null)
ID_MAX_LENGTH = 128


@dataclass(frozen=True)
class FieldRule:
    """What the request model demands of one field."""

    name: str
    base: str  # "int", "float", "str"
    allowed: tuple[Any, ...] | None
    low: float | None
    high: float | None
    nullable: bool
    required: bool
    is_id: bool = False


def field_rules(contract: DataContract) -> list[FieldRule]:
    """The rules of :func:`~churn_assets.lib.serving.request_model.customer_model`, in its
    field order (the id first)."""
    rules = [FieldRule(contract.id_column, "str", None, None, None, True, False, is_id=True)]
    for column in contract.feature_columns:
        info = contract.column_info(column)
        if info.kind == "numeric" and info.dtype.startswith(("int", "uint")):
            base = "int"
        elif info.kind == "numeric":
            base = "float"
        else:
            base = "str"
        ranged = info.kind == "numeric" and not info.allowed_values
        rules.append(
            FieldRule(
                column,
                base,
                tuple(info.allowed_values) if info.allowed_values else None,
                info.min_value if ranged else None,
                info.max_value if ranged else None,
                bool(info.nullable),
                not info.nullable,
            )
        )
    return rules


def value_class(value: Any) -> str:
    """The class of a value as a client sent it (JSON's names)."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | np.integer):
        return "integer"
    if isinstance(value, float | np.floating):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _check(rule: FieldRule, value: Any) -> tuple[str, str] | None:
    """(error type, rule in words) for one value, or None when it passes. Pydantic's strict
    mode: a bool is no number, an int is a valid float, a float never a valid int."""
    if value is MISSING:
        return None if not rule.required else ("missing", "a required field")
    if value is None:
        if rule.nullable:
            return None
        if rule.allowed is not None:
            return ("literal_error", f"one of {list(rule.allowed)}")
        return (f"{rule.base}_type" if rule.base != "str" else "string_type", "not null")
    if rule.allowed is not None:
        if _literal_ok(value, rule.allowed):
            return None
        return ("literal_error", f"one of {list(rule.allowed)}")
    if rule.base == "int":
        if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
            return ("int_type", "an integer")
    elif rule.base == "float":
        if not isinstance(value, int | float | np.integer | np.floating) or isinstance(
            value, bool | np.bool_
        ):
            return ("float_type", "a number")
        if not math.isfinite(value):
            return ("finite_number", "a finite number")
    else:
        if not isinstance(value, str):
            return ("string_type", "a string")
        if rule.is_id and len(value) < 1:
            return ("string_too_short", "at least 1 character")
        if rule.is_id and len(value) > ID_MAX_LENGTH:
            return ("string_too_long", f"at most {ID_MAX_LENGTH} characters")
        return None
    if rule.low is not None and value < rule.low:
        return ("greater_than_equal", f">= {rule.low}")
    if rule.high is not None and value > rule.high:
        return ("less_than_equal", f"<= {rule.high}")
    return None


def _literal_ok(value: Any, allowed: tuple[Any, ...]) -> bool:
    # Pydantic's Literal compares by equality within a family: 1, 1.0 and True all match 1,
    # "1" does not (measured on pydantic 2; the generated-rows test holds it).
    family = _family(value)
    return any(v == value and _family(v) == family for v in allowed)


def _family(value: Any) -> str:
    if isinstance(value, str):
        return "str"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    return type(value).__name__


def _as_columns(batch: Any) -> tuple[dict[str, Sequence[Any]], int]:
    if hasattr(batch, "schema") and hasattr(batch, "column_names"):  # a pyarrow table
        return {n: batch.column(n).to_pylist() for n in batch.column_names}, batch.num_rows
    if hasattr(batch, "columns") and hasattr(batch, "iloc"):  # a pandas frame
        out = {}
        for name in batch.columns:
            values = batch[name].tolist()
            out[str(name)] = [None if v is not None and v != v else v for v in values]
        return out, len(batch)
    columns = {k: list(v) for k, v in batch.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return columns, lengths.pop() if lengths else 0


def row_verdicts(
    batch: Any, contract: DataContract, rules: list[FieldRule] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per bad row (index in the batch), its reasons: ``{"field", "type", "value_class",
    "rule"}``, fields in the request model's order, unknown fields last. Rows absent from
    the answer passed.

    A column a columnar batch lacks counts as missing in every row; a null in a frame
    (NaN or None) is a null. A float column for an integer field fails each non-null row
    (``int_type``), as a JSON 12.0 does.
    """
    rules = rules or field_rules(contract)
    arrow = hasattr(batch, "schema") and hasattr(batch, "column_names")
    columns, n = _as_columns(batch) if not arrow else (_LazyColumns(batch), batch.num_rows)
    known = {r.name for r in rules}
    bad: dict[int, list[dict[str, Any]]] = {}
    for rule in rules:
        if arrow and rule.name in columns:
            suspects = _arrow_suspects(rule, batch.column(rule.name))
            if suspects is not None:  # only the suspects' values become Python objects
                values = batch.column(rule.name).take(suspects).to_pylist() if suspects else []
                for i, value in zip(suspects, values, strict=True):
                    verdict = _check(rule, value)
                    if verdict is not None:
                        reason = _reason(rule.name, verdict[0], value, verdict[1])
                        bad.setdefault(i, []).append(reason)
                continue
        values = columns.get(rule.name)
        if values is None:
            if rule.required:
                for i in range(n):
                    bad.setdefault(i, []).append(
                        _reason(rule.name, "missing", MISSING, "a required field")
                    )
            continue
        check = _fast_check(rule, values)
        for i in check:
            value = values[i]
            verdict = _check(rule, value)
            if verdict is not None:
                bad.setdefault(i, []).append(_reason(rule.name, verdict[0], value, verdict[1]))
    for name, values in columns.items():
        if name in known:
            continue
        for i, value in enumerate(values):
            if value is not MISSING:
                bad.setdefault(i, []).append(
                    _reason(name, "extra_forbidden", value, "not a field of the contract")
                )
    return dict(sorted(bad.items()))


class _LazyColumns(dict):
    """A pyarrow table's columns as Python lists, each converted on first use."""

    def __init__(self, table: Any):
        super().__init__()
        self.table = table
        self.names = list(table.column_names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self.names:
            return default
        if not dict.__contains__(self, name):
            self[name] = self.table.column(name).to_pylist()
        return self[name]

    def items(self) -> Any:
        return ((name, self.get(name)) for name in self.names)


def _arrow_suspects(rule: FieldRule, column: Any) -> list[int] | None:
    """Row indices of an Arrow column that may fail ``rule``, found with Arrow compute; the
    rest provably pass (their Python values would, one by one). ``None`` when the column's
    type is not one of the plain cases: then every value is checked as a Python object."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    is_int, is_float = pa.types.is_integer(kind), pa.types.is_floating(kind)
    is_str = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if rule.allowed is not None:
        if is_str and all(isinstance(a, str) for a in rule.allowed):
            ok = pc.is_in(column, pa.array(list(rule.allowed), pa.string()))
        elif is_int and all(type(a) is int for a in rule.allowed):
            ok = pc.is_in(column, pa.array(list(rule.allowed), pa.int64()))
        else:
            return None
    elif rule.base == "str":
        if not is_str:
            return None
        ok = pc.is_valid(column)
        if rule.is_id:
            length = pc.utf8_length(column)
            ok = pc.and_(ok, pc.and_(pc.greater(length, 0), pc.less_equal(length, ID_MAX_LENGTH)))
    elif (rule.base == "int" and is_int) or (rule.base == "float" and (is_int or is_float)):
        values = column.cast(pa.float64())
        ok = pc.and_(pc.is_valid(values), pc.is_finite(values))
        if rule.low is not None:
            ok = pc.and_(ok, pc.greater_equal(values, rule.low))
        if rule.high is not None:
            ok = pc.and_(ok, pc.less_equal(values, rule.high))
    else:
        return None
    # A null is a suspect (is_in / comparisons give null or false for it): _check decides.
    suspect = pc.invert(pc.fill_null(ok, False))
    return np.flatnonzero(suspect.to_numpy(zero_copy_only=False)).tolist()


def _fast_check(rule: FieldRule, values: Sequence[Any]) -> Sequence[int]:
    """Indices that may fail ``rule``: the common all-good column is cleared with set and
    NumPy operations, only suspects are checked one by one."""
    n = len(values)
    classes = set(map(type, values))
    if rule.allowed is not None:
        if classes <= {str} and all(isinstance(a, str) for a in rule.allowed):
            allowed = set(rule.allowed)
            return [i for i, v in enumerate(values) if v not in allowed]
        if classes <= {int} and all(type(a) is int for a in rule.allowed):
            return np.flatnonzero(~np.isin(np.asarray(values), rule.allowed)).tolist()
        return range(n)
    if rule.base == "str":
        if classes <= {str} and not rule.is_id:
            return ()
        if classes <= {str, type(None)}:  # the id: only its length can fail
            return [
                i for i, v in enumerate(values) if v is not None and not 0 < len(v) <= ID_MAX_LENGTH
            ]
        return range(n)
    numeric = {int} if rule.base == "int" else {int, float}
    if not classes <= numeric:
        return range(n)
    arr = np.asarray(values, dtype=np.float64)
    suspect = ~np.isfinite(arr)
    if rule.low is not None:
        suspect |= arr < rule.low
    if rule.high is not None:
        suspect |= arr > rule.high
    return np.flatnonzero(suspect).tolist()


def _reason(field: str, kind: str, value: Any, rule: str) -> dict[str, Any]:
    return {"field": field, "type": kind, "value_class": value_class(value), "rule": rule}


def columns_from_records(
    records: Sequence[Mapping[str, Any]], contract: DataContract
) -> dict[str, list[Any]]:
    """JSON records as columns, a left-out key as :data:`MISSING`; unknown keys become
    columns of their own (so :func:`row_verdicts` names them)."""
    names = [r.name for r in field_rules(contract)]
    columns = {name: [r.get(name, MISSING) for r in records] for name in names}
    extra = set().union(*(r.keys() for r in records)) - set(names) if records else set()
    for name in sorted(extra):
        columns[name] = [r.get(name, MISSING) for r in records]
    return columns
