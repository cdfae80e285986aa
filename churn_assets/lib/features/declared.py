"""Engineered features declared in the contract (``metadata.churn_contract.features``).

Each entry is a name, a ``kind`` from a small closed vocabulary, and the kind's parameters::

    features:
      - {name: spend_per_month, kind: ratio, numerator: total_spend, denominator: tenure,
         min_denominator: 1, fill: 0.0, clip: [0, 500]}
      - {name: tenure_band, kind: bucket, column: tenure, edges: [6, 12], labels: [new, mid, old]}
      - {name: pays_late, kind: flag, column: late_payments, gt: 0}

A feature may read contract feature columns and other declared features (any order: they
are computed dependency-first). :func:`parse_features` validates the whole list against the
contract and returns plain-data :class:`FeatureSpec` objects; the fitted pipeline stores them
(so a registered model scores without the contract file) and
:mod:`churn_assets.lib.features.kinds` computes them. docs/configuration.md#declared-features
lists every kind and key.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from churn_assets.lib.contract import ContractError

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

NUMERIC_OPS = ("gt", "ge", "lt", "le")
VALUE_OPS = ("equals", "not_equals", "in", "not_in")
OPERATORS = (*VALUE_OPS, "contains", *NUMERIC_OPS)
# kind -> (required keys, optional keys); `name`, `kind` and `description` are always allowed.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ratio": (("numerator", "denominator"), ("min_denominator", "fill", "clip", "when")),
    "difference": (("columns",), ("fill",)),
    "log1p": (("column",), ("fill",)),
    "bucket": (("column", "edges"), ("labels",)),
    "interaction": (("columns",), ()),
    "flag": (("column",), ("labels", *OPERATORS)),
    "count": (("conditions",), ()),
}


@dataclass(frozen=True)
class Condition:
    """``column <op> value``; ``numeric`` says how the column's values are compared."""

    column: str
    op: str
    value: Any  # a tuple for in / not_in, a float for a numeric column
    numeric: bool


@dataclass(frozen=True)
class FeatureSpec:
    """One validated declared feature: plain data, picklable with the fitted pipeline."""

    name: str
    kind: str
    output: str  # "numeric" or "categorical"
    inputs: tuple[str, ...]  # the columns and features it reads
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    conditions: tuple[Condition, ...] = ()
    description: str = ""

    def param(self, key: str, default: Any = None) -> Any:
        """A kind-specific parameter (``None`` when the declaration leaves it out)."""
        return self.params.get(key, default)


class _Parser:
    """Validates one contract's ``features`` list; every error names file, feature and fix."""

    def __init__(self, contract: DataContract):
        self.path = contract.path
        self.contract = contract
        self.kinds = {c: contract.column_info(c).kind for c in contract.feature_columns}
        self.name = "<features>"

    def fail(self, problem: str) -> ContractError:
        return ContractError(f"{self.path}: `features` entry {self.name!r}: {problem}")

    # ------------------------------------------------------------------ inputs
    def column(self, entry: dict[str, Any], key: str, want: str | None = None) -> str:
        name = entry.get(key)
        if not isinstance(name, str):
            raise self.fail(f"`{key}` must name one column, got {name!r}")
        kind = self.kinds.get(name)
        if kind is None:
            if name in self.contract.columns:
                raise self.fail(
                    f"`{key}` names {name!r}, which is not a model feature (its role: "
                    f"{self.contract.role(name)}); use a feature column"
                )
            raise self.fail(
                f"`{key}` names unknown column {name!r}; use a feature column "
                f"({', '.join(sorted(self.kinds))}) or a declared feature"
            )
        if want and kind != want:
            raise self.fail(
                f"`{key}` column {name!r} is {kind}, this needs a {want} column"
                + ("; a `flag` of it is numeric" if want == "numeric" else "")
            )
        return name

    def number(self, entry: dict[str, Any], key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(f"`{key}` must be a number, got {value!r}")
        return float(value)

    def condition(self, entry: dict[str, Any]) -> Condition:
        ops = [op for op in OPERATORS if op in entry]
        if len(ops) != 1:
            raise self.fail(
                f"a condition needs exactly one operator of {list(OPERATORS)}, got {ops or 'none'}"
            )
        op = ops[0]
        column = self.column(entry, "column", "numeric" if op in NUMERIC_OPS else None)
        numeric = self.kinds[column] == "numeric"
        value = entry[op]
        if op == "contains":
            if numeric or not isinstance(value, str):
                raise self.fail("`contains` needs a categorical column and a string")
        elif op in NUMERIC_OPS:
            value = self.number(entry, op)
        else:
            values = value if op in ("in", "not_in") else [value]
            if not isinstance(values, list) or not values:
                raise self.fail(f"`{op}` needs a non-empty list of values")
            if numeric:
                values = [self.number({op: v}, op) for v in values]
            declared = column in self.contract.columns  # else a declared feature's output
            allowed = self.contract.allowed_values(column) if declared else None
            unknown = [v for v in values if allowed is not None and v not in allowed]
            if unknown:
                raise self.fail(
                    f"`{op}` value(s) {unknown} are not among {column!r}'s allowed values "
                    f"{list(allowed or ())}"
                )
            value = tuple(values) if op in ("in", "not_in") else values[0]
        return Condition(column, op, value, numeric)

    # ------------------------------------------------------------------ one entry
    def parse(self, entry: Any) -> FeatureSpec:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise self.fail(f"each entry needs a `name` and a `kind`, got {entry!r}")
        self.name = name = entry["name"]
        kind = entry.get("kind")
        if kind not in KINDS:
            raise self.fail(f"unknown kind {kind!r}; use one of {list(KINDS)}")
        required, optional = KINDS[kind]
        missing = [k for k in required if k not in entry]
        extra = sorted(set(entry) - {"name", "kind", "description", *required, *optional})
        if missing or extra:
            raise self.fail(
                f"kind {kind!r} takes {list(required)} (required) and {list(optional)}; "
                + (f"missing {missing}" if missing else f"unknown key(s) {extra}")
            )
        if name in self.contract.columns:
            raise self.fail("the name clashes with a contract column; rename the feature")
        params, conditions, output, inputs = getattr(self, f"_{kind}")(entry)
        inputs = tuple(dict.fromkeys([*inputs, *(c.column for c in conditions)]))
        description = str(entry.get("description") or "")
        spec = FeatureSpec(name, kind, output, inputs, params, tuple(conditions), description)
        self.kinds[name] = output  # later entries may read it
        return spec

    def _pair(self, entry: dict[str, Any]) -> list[str]:
        pair = entry["columns"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise self.fail(f"`columns` must list two columns, got {pair!r}")
        return [self.column({"columns": c}, "columns") for c in pair]

    def _fill(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"fill": self.number(entry, "fill")}

    def _ratio(self, entry: dict[str, Any]):
        num = self.column(entry, "numerator", "numeric")
        den = self.column(entry, "denominator", "numeric")
        params = {"numerator": num, "denominator": den, **self._fill(entry)}
        params["min_denominator"] = self.number(entry, "min_denominator")
        clip = entry.get("clip")
        if clip is not None:
            if not isinstance(clip, list) or len(clip) != 2:
                raise self.fail(f"`clip` must be [low, high], got {clip!r}")
            low, high = (self.number({"clip": v}, "clip") for v in clip)
            if low > high:
                raise self.fail(f"`clip` low {low} is above high {high}")
            params["clip"] = (low, high)
        when = entry.get("when")
        if when is not None and not isinstance(when, dict):
            raise self.fail(f"`when` must be a condition mapping, got {when!r}")
        conditions = [self.condition(when)] if when else []
        return params, conditions, "numeric", [num, den]

    def _difference(self, entry: dict[str, Any]):
        a, b = self._pair(entry)
        for c in (a, b):
            self.column({"columns": c}, "columns", "numeric")
        return {"columns": (a, b), **self._fill(entry)}, [], "numeric", [a, b]

    def _log1p(self, entry: dict[str, Any]):
        col = self.column(entry, "column", "numeric")
        return {"column": col, **self._fill(entry)}, [], "numeric", [col]

    def _bucket(self, entry: dict[str, Any]):
        col = self.column(entry, "column", "numeric")
        edges = entry["edges"]
        if not isinstance(edges, list) or not edges:
            raise self.fail(f"`edges` must be a non-empty list of numbers, got {edges!r}")
        edges = [self.number({"edges": e}, "edges") for e in edges]
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise self.fail(f"`edges` must increase strictly, got {edges}")
        labels = entry.get("labels")
        if labels is None:
            bounds = ["-inf", *(f"{e:g}" for e in edges), "inf"]
            labels = [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(bounds)]
            labels[-1] = labels[-1][:-1] + ")"
        if not isinstance(labels, list) or len(labels) != len(edges) + 1:
            raise self.fail(
                f"`labels` must list len(edges) + 1 = {len(edges) + 1} names, got {labels!r}"
            )
        params = {"column": col, "edges": tuple(edges), "labels": tuple(map(str, labels))}
        return params, [], "categorical", [col]

    def _interaction(self, entry: dict[str, Any]):
        a, b = self._pair(entry)
        kinds = {self.kinds[a], self.kinds[b]}
        if len(kinds) != 1 or not kinds <= {"numeric", "categorical"}:
            raise self.fail(
                f"`columns` {a!r} and {b!r} must both be numeric (a product) or both "
                "categorical (a cross); bucket the numeric one first"
            )
        return {"columns": (a, b)}, [], kinds.pop(), [a, b]

    def _flag(self, entry: dict[str, Any]):
        cond = self.condition({k: v for k, v in entry.items() if k in ("column", *OPERATORS)})
        labels = entry.get("labels")
        if labels is not None and (not isinstance(labels, list) or len(labels) != 2):
            raise self.fail(f"`labels` must be [when true, when false], got {labels!r}")
        output = "numeric" if labels is None else "categorical"
        params = {"labels": None if labels is None else tuple(map(str, labels))}
        return params, [cond], output, []

    def _count(self, entry: dict[str, Any]):
        conditions = entry["conditions"]
        if not isinstance(conditions, list) or not conditions:
            raise self.fail("`conditions` must be a non-empty list of conditions")
        bad = [c for c in conditions if not isinstance(c, dict)]
        if bad:
            raise self.fail(f"each condition is a mapping like {{column: x, equals: y}}, got {bad}")
        return {}, [self.condition(c) for c in conditions], "numeric", []


def parse_features(contract: DataContract) -> tuple[FeatureSpec, ...]:
    """The contract's declared features, validated, in an order that computes inputs first.

    Raises:
        ContractError: naming the file, the feature and what to fix, for an unknown kind or
            key, an unknown or non-feature column, a numeric operation on a categorical column,
            a name clashing with a contract column or another feature, or a cycle.
    """
    raw = (contract.schema.metadata or {}).get("churn_contract", {}).get("features") or []
    parser = _Parser(contract)
    if not isinstance(raw, list):
        raise parser.fail(f"`features` must be a list of mappings, got {type(raw).__name__}")
    names = [e.get("name") for e in raw if isinstance(e, dict)]
    duplicated = sorted({str(n) for n in names if names.count(n) > 1})
    if duplicated:
        raise ContractError(f"{contract.path}: `features` declares {duplicated} twice; rename one")
    # Declared names are known up front (any order is allowed); their output kinds are
    # settled as entries are parsed, so a feature read before its entry is parsed first.
    pending = {e["name"]: e for e in raw if isinstance(e, dict) and isinstance(e.get("name"), str)}
    specs: dict[str, FeatureSpec] = {}
    visiting: list[str] = []

    def visit(entry: Any) -> None:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in specs:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ContractError(
                f"{contract.path}: `features` entry {name!r} depends on itself ({cycle}); "
                "a feature may only read columns and features that do not read it"
            )
        visiting.append(name)
        for dep in _references(entry):
            if dep in pending and dep not in specs:
                visit(pending[dep])
        visiting.pop()
        specs[name] = parser.parse(entry)

    for entry in raw:
        visit(entry)
    return tuple(specs.values())


def _references(entry: dict[str, Any]) -> list[str]:
    """Every column name an entry mentions (before validation), to order dependencies."""
    refs = [entry.get(k) for k in ("numerator", "denominator", "column")]
    refs += list(entry.get("columns") or [])
    conditions = list(entry.get("conditions") or [])
    if isinstance(entry.get("when"), dict):
        conditions.append(entry["when"])
    refs += [c.get("column") for c in conditions if isinstance(c, dict)]
    return [r for r in refs if isinstance(r, str)]


def _condition_text(cond: Condition) -> str:
    symbols = {"equals": "==", "not_equals": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    if cond.op in symbols:
        return f"{cond.column} {symbols[cond.op]} {cond.value!r}"
    if cond.op == "contains":
        return f"{cond.column} contains {cond.value!r}"
    return f"{cond.column} {cond.op.replace('_', ' ')} {list(cond.value)}"


def describe_spec(spec: FeatureSpec) -> str:
    """A one-line formula for a declaration without a ``description`` (model card, UI)."""
    p = spec.param
    if spec.kind == "ratio":
        den = p("denominator")
        if p("min_denominator") is not None:
            den = f"max({den}, {p('min_denominator'):g})"
        text = f"{p('numerator')} / {den}"
        if spec.conditions:
            text += f" where {_condition_text(spec.conditions[0])}"
        if p("fill") is not None:
            text += f", {p('fill'):g} when undefined"
        if p("clip"):
            text += ", clipped to [{:g}, {:g}]".format(*p("clip"))
        return text
    if spec.kind in ("difference", "interaction"):
        a, b = p("columns")
        sign = {"difference": "-", "interaction": "*" if spec.output == "numeric" else "x"}
        return f"{a} {sign[spec.kind]} {b}"
    if spec.kind == "log1p":
        return f"log(1 + max({p('column')}, 0))"
    if spec.kind == "bucket":
        return f"{p('column')} in bands {', '.join(p('labels'))} (edges {list(p('edges'))})"
    if spec.kind == "flag":
        labels = p("labels") or ("1", "0")
        return f"{labels[0]} if {_condition_text(spec.conditions[0])} else {labels[1]}"
    return "number of: " + "; ".join(_condition_text(c) for c in spec.conditions)
