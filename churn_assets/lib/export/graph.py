"""The champion's preprocessing as ONNX operators: raw contract fields in, the encoded matrix out.

An edge device holds raw contract fields, not the model matrix, so the exported graph starts
where the pipeline starts. Each step below mirrors the NumPy arithmetic the pipeline runs
(:mod:`churn_assets.lib.features.kinds` for engineered features, ``SimpleImputer`` /
``StandardScaler`` / :class:`~churn_assets.lib.features.capping.CategoryCapper` /
``OneHotEncoder`` for encoding), in float64, in the same order:

- inputs: one per contract field, ``[N, 1]``; ``double`` for numeric fields (a null is NaN),
  ``string`` for categorical fields (a null is the empty string: ONNX strings have no null);
- the contract's ``fill`` null policies, as the compiled scorer applies them;
- engineered features: every declared kind except what ONNX cannot say exactly (a
  categorical ``interaction`` of a numeric field would need Python's float formatting,
  ``contains`` on a numeric field likewise): those raise :class:`ExportError` naming the kind;
- encoding: median fill, ``(x - mean) / scale``; most-frequent fill, the capper's kept set
  (else ``__other__``), one-hot by string equality (an unseen category encodes as zeros).

The only operation that is not bit-identical is ``log1p``: ONNX has no such operator, so it is
``Log(1 + x)``, which differs from NumPy's by ~1e-16 absolute for the non-negative inputs the
kind allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from churn_assets.lib.features.capping import OTHER
from churn_assets.lib.features.kinds import MISSING_LABEL

MISSING_TEXT = ""  # how a null categorical field is passed to the ONNX model


class ExportError(ValueError):
    """The champion (or one of its steps) cannot be exported to ONNX exactly."""


class GraphBuilder:
    """Collects ONNX nodes, initializers and inputs with unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        """Add a one-output node; return its output's name."""
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def const(self, value: Any, hint: str = "const") -> str:
        """A constant tensor (float64, int64 or string, by the value's type)."""
        from onnx import numpy_helper

        array = np.asarray(value)
        if array.dtype.kind in "USO":
            array = np.asarray(value, dtype=object)
            tensor = _string_tensor(array)
        else:
            if array.dtype.kind == "f":
                array = array.astype(np.float64)
            elif array.dtype.kind in "iub":
                array = array.astype(np.int64)
            tensor = numpy_helper.from_array(array)
        tensor.name = self.name(hint)
        self.initializers.append(tensor)
        return tensor.name

    def add_input(self, name: str, numeric: bool) -> str:
        from onnx import TensorProto, helper

        elem = TensorProto.DOUBLE if numeric else TensorProto.STRING
        self.inputs.append(helper.make_tensor_value_info(name, elem, [None, 1]))
        return name


def _string_tensor(array: np.ndarray) -> Any:
    from onnx import TensorProto, helper

    return helper.make_tensor(
        "s",
        TensorProto.STRING,
        list(array.shape),
        [str(v).encode("utf-8") for v in array.ravel()],
    )


# ---------------------------------------------------------------------- preprocessing
def build_preprocessing(
    g: GraphBuilder,
    preprocess: Any,
    inputs: Sequence[str],
    numeric_inputs: set[str],
    null_fills: dict[str, Any],
) -> tuple[str, int]:
    """Add the preprocessing to ``g``; return the encoded matrix's name and its width."""
    columns: dict[str, str] = {}
    numeric: set[str] = set()
    for col in inputs:
        columns[col] = g.add_input(col, col in numeric_inputs)
        if col in numeric_inputs:
            numeric.add(col)
    for col, value in null_fills.items():
        columns[col] = _fill_missing(g, columns[col], col in numeric, value)
    builder = preprocess.named_steps["engineer"]
    from churn_assets.lib.features.engineering import _resolve

    for spec in (_resolve(f) for f in builder.features):
        columns[spec.name] = _feature(g, spec, columns, numeric)
        if spec.output == "numeric":
            numeric.add(spec.name)
    return _encode(g, preprocess.named_steps["encode"], columns)


def _nan(g: GraphBuilder) -> str:
    return g.const(np.array(np.nan), "nan")


def _fill_missing(g: GraphBuilder, x: str, numeric: bool, value: Any) -> str:
    if numeric:
        return g.op("Where", g.op("IsNaN", x), g.const(np.array(float(value))), x)
    missing = g.op("Equal", x, g.const(np.array(MISSING_TEXT, dtype=object)))
    return g.op("Where", missing, g.const(np.array(str(value), dtype=object)), x)


def _text(g: GraphBuilder, x: str) -> str:
    """A categorical column with a missing value written as pandas does (``"nan"``)."""
    return _fill_missing(g, x, False, MISSING_LABEL)


def _condition(g: GraphBuilder, cond: Any, columns: dict[str, str], numeric: set[str]) -> str:
    """The boolean ``[N, 1]`` column of a condition (kinds.condition_columns' semantics)."""
    x, op, value = columns[cond.column], cond.op, cond.value
    is_numeric = cond.column in numeric
    if op == "contains":
        if is_numeric:
            raise ExportError(
                f"condition `contains` on numeric field {cond.column!r}: ONNX cannot format a "
                "float as Python does; declare the condition on a categorical field"
            )
        import re

        return g.op("RegexFullMatch", _text(g, x), pattern=f"(?s).*{re.escape(value)}.*")
    if op in ("in", "not_in"):
        members = sorted(value) if is_numeric else sorted(str(v) for v in value)
        dtype = np.float64 if is_numeric else object
        hits = g.op("Equal", x, g.const(np.asarray([members], dtype=dtype)))
        hits = g.op("Cast", hits, to=_double())
        any_hit = g.op(
            "Greater",
            g.op("ReduceSum", hits, g.const(np.array([1])), keepdims=1),
            g.const(np.array(0.0)),
        )
        return g.op("Not", any_hit) if op == "not_in" else any_hit
    if op in ("equals", "not_equals"):
        const = g.const(np.array(float(value)) if is_numeric else np.array(value, dtype=object))
        equal = g.op("Equal", x, const)
        return g.op("Not", equal) if op == "not_equals" else equal
    if not is_numeric:
        raise ExportError(f"condition {op!r} on categorical field {cond.column!r}")
    onnx_op = {"gt": "Greater", "ge": "GreaterOrEqual", "lt": "Less", "le": "LessOrEqual"}[op]
    return g.op(onnx_op, x, g.const(np.array(float(value))))


def _double() -> int:
    from onnx import TensorProto

    return TensorProto.DOUBLE


def _where_nan(g: GraphBuilder, x: str, fill: Any) -> str:
    """``x`` with NaN replaced by ``fill`` (``None``: unchanged)."""
    if fill is None:
        return x
    return g.op("Where", g.op("IsNaN", x), g.const(np.array(float(fill))), x)


def _feature(g: GraphBuilder, spec: Any, columns: dict[str, str], numeric: set[str]) -> str:
    kind, param = spec.kind, spec.param
    if kind == "ratio":
        num, den = columns[param("numerator")], columns[param("denominator")]
        floor = param("min_denominator")
        d = den
        if floor is not None:  # np.maximum keeps NaN; ONNX Max need not
            d = g.op("Where", g.op("IsNaN", den), den, g.op("Max", den, g.const(floor)))
        positive = g.op("Greater", d, g.const(np.array(0.0)))
        r = g.op("Div", num, g.op("Where", positive, d, _nan(g)))
        if spec.conditions:
            r = g.op("Where", _condition(g, spec.conditions[0], columns, numeric), r, _nan(g))
        r = _where_nan(g, r, param("fill"))
        clip = param("clip")
        if clip:  # np.clip: NaN stays NaN (comparisons with NaN are false)
            low, high = g.const(np.array(float(clip[0]))), g.const(np.array(float(clip[1])))
            r = g.op("Where", g.op("Greater", r, high), high, r)
            r = g.op("Where", g.op("Less", r, low), low, r)
        return r
    if kind == "difference":
        a, b = (columns[c] for c in param("columns"))
        return _where_nan(g, g.op("Sub", a, b), param("fill"))
    if kind == "log1p":
        x = columns[param("column")]
        positive = g.op("Where", g.op("Greater", x, g.const(np.array(0.0))), x, g.const(0.0))
        logged = g.op("Log", g.op("Add", g.const(np.array(1.0)), positive))
        return _where_nan(g, g.op("Where", g.op("IsNaN", x), x, logged), param("fill"))
    if kind == "bucket":
        x = columns[param("column")]
        edges = g.const(np.asarray([param("edges")], dtype=np.float64))
        below = g.op("Cast", g.op("Less", edges, x), to=_int64())  # searchsorted side=left
        index = g.op("ReduceSum", below, g.const(np.array([1])), keepdims=1)
        labels = g.const(np.asarray(param("labels"), dtype=object))
        band = g.op("Gather", labels, index)
        missing = g.const(np.array(MISSING_LABEL, dtype=object))
        return g.op("Where", g.op("IsNaN", x), missing, band)
    if kind == "interaction":
        a, b = param("columns")
        if spec.output == "numeric":
            return g.op("Mul", columns[a], columns[b])
        for c in (a, b):
            if c in numeric:
                raise ExportError(
                    f"feature {spec.name!r}: kind `interaction` (categorical) of numeric field "
                    f"{c!r} formats a float as Python does, which ONNX cannot reproduce"
                )
        bar = g.const(np.array("|", dtype=object))
        joined = g.op("StringConcat", _text(g, columns[a]), bar)
        return g.op("StringConcat", joined, _text(g, columns[b]))
    if kind == "flag":
        cond = _condition(g, spec.conditions[0], columns, numeric)
        labels = param("labels")
        if labels is None:
            return g.op("Cast", cond, to=_double())
        yes, no = (g.const(np.array(str(v), dtype=object)) for v in labels)
        return g.op("Where", cond, yes, no)
    if kind == "count":
        total = None
        for cond in spec.conditions:
            term = g.op("Cast", _condition(g, cond, columns, numeric), to=_double())
            total = term if total is None else g.op("Add", total, term)
        return total
    raise ExportError(
        f"feature {spec.name!r}: kind {kind!r} has no ONNX translation; export supports "
        "ratio, difference, log1p, bucket, interaction, flag and count"
    )


def _int64() -> int:
    from onnx import TensorProto

    return TensorProto.INT64


def _encode(g: GraphBuilder, encode: Any, columns: dict[str, str]) -> tuple[str, int]:
    """The fitted ``ColumnTransformer`` (numeric: impute + scale; categorical: impute, cap,
    one-hot), its blocks concatenated in its own order."""
    blocks: list[str] = []
    width = 0
    for name, transformer, cols in encode.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name == "numeric":
            impute, scale = transformer.named_steps["impute"], transformer.named_steps["scale"]
            stacked = g.op("Concat", *(columns[c] for c in cols), axis=1)
            filled = g.op(
                "Where",
                g.op("IsNaN", stacked),
                g.const(np.asarray([impute.statistics_], dtype=np.float64)),
                stacked,
            )
            if scale.mean_ is not None:
                filled = g.op("Sub", filled, g.const(np.asarray([scale.mean_])))
            if scale.scale_ is not None:
                filled = g.op("Div", filled, g.const(np.asarray([scale.scale_])))
            blocks.append(filled)
            width += len(cols)
        elif name == "categorical":
            steps = transformer.named_steps
            impute, onehot = steps["impute"], steps["onehot"]
            cap = steps.get("cap")
            if onehot.drop_idx_ is not None or getattr(onehot, "_infrequent_enabled", False):
                raise ExportError("one-hot encoders with drop/infrequent categories")
            kept_sets = cap.kept_ if cap is not None else [None] * len(cols)
            for col, cats, fill, kept in zip(
                cols, onehot.categories_, impute.statistics_, kept_sets, strict=True
            ):
                x = _fill_missing(g, columns[col], False, fill)
                if kept is not None:
                    x = _cap(g, x, kept)
                hot = g.op("Equal", x, g.const(np.asarray([[str(c) for c in cats]], dtype=object)))
                blocks.append(g.op("Cast", hot, to=_double()))
                width += len(cats)
        else:
            raise ExportError(f"unknown ColumnTransformer step {name!r}")
    return g.op("Concat", *blocks, axis=1, hint="encoded"), width


def _cap(g: GraphBuilder, x: str, kept: frozenset) -> str:
    """The capper: a category outside the kept set becomes ``__other__``."""
    if not kept:
        return g.op("Where", g.op("Equal", x, x), g.const(np.array(OTHER, dtype=object)), x)
    members = g.const(np.asarray([sorted(str(v) for v in kept)], dtype=object))
    hits = g.op("Cast", g.op("Equal", x, members), to=_double())
    known = g.op(
        "Greater",
        g.op("ReduceSum", hits, g.const(np.array([1])), keepdims=1),
        g.const(np.array(0.0)),
    )
    return g.op("Where", known, x, g.const(np.array(OTHER, dtype=object)))
