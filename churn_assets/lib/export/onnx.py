"""The champion as one ONNX model for edge devices: raw contract fields in, P(churn) and the
decision out.

The graph is the whole pipeline (see :mod:`churn_assets.lib.export.graph` for preprocessing):

- model: logistic regression as ``MatMul + Add`` in float64 (exact; skl2onnx's
  ``LinearClassifier`` computes in float32); random forest and LightGBM as one float64
  ``TreeEnsemble`` built from the fitted trees (:mod:`churn_assets.lib.export.trees`: exact,
  where the converters' float32 nodes are ~1e-7 off); XGBoost through onnxmltools
  (``TreeEnsembleClassifier`` in float32, as XGBoost computes);
- calibration: sigmoid ``1 / (1 + exp(a f + b))``; isotonic as the piecewise-linear
  interpolation ``scipy.interpolate.interp1d`` performs on the fitted thresholds, after the
  clip to the fitted range;
- decision: ``label = probability >= threshold`` (the slot's threshold, also stored in the
  model's ``metadata_props`` with the family, model version and contract).

What cannot be exported exactly raises :class:`ExportError` with the reason, so the caller
records a refusal instead of shipping something different (a stacked ensemble, a feature
kind ONNX cannot express, an estimator the converters do not know). :func:`check_parity`
measures, on given rows, the largest |P(onnx) - P(pipeline)|; :func:`export_onnx` refuses a
model whose parity on its check rows exceeds the tolerance. XGBoost under isotonic
calibration is refused outright: a 1e-7 change of its float32 score times an isotonic slope of
1e3 is 1e-4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.export.graph import (
    MISSING_TEXT,
    ExportError,
    GraphBuilder,
    build_preprocessing,
)

__all__ = ["ExportError", "ExportResult", "check_parity", "export_onnx", "onnx_feeds"]

OPSET = 21  # StringConcat and RegexFullMatch need 20
ML_OPSET = 3
TOLERANCE = 1e-5
_FLOAT32_TREES = ("XGBClassifier",)  # isotonic refused: see export_onnx


@dataclass
class ExportResult:
    """An exported model: its bytes and what describes it."""

    onnx_bytes: bytes
    family: str
    calibration: str
    threshold: float
    inputs: list[str]
    opset: int = OPSET
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return len(self.onnx_bytes)


def export_onnx(
    model: Any,
    contract: Any,
    threshold: float,
    *,
    family: str,
    model_version: str = "",
    check_rows: pd.DataFrame | None = None,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Export a champion (pipeline or calibrated pipeline) to ONNX.

    Args:
        model: the fitted sklearn pipeline, optionally inside ``CalibratedClassifierCV``.
        contract: its :class:`~churn_assets.lib.contract.DataContract` (input kinds, null fills).
        threshold: the decision threshold baked into the ``label`` output.
        family: the registered family name (recorded in the metadata).
        model_version: the registered version (recorded).
        check_rows: rows of contract fields to hold the export to ``tolerance`` on.

    Raises:
        ExportError: the model cannot be exported exactly (the message says why).
    """
    import onnx
    from onnx import TensorProto, helper

    from churn_assets.lib.evaluation.explain import unwrap_pipeline
    from churn_assets.lib.serving.ensemble_scorer import StackedEnsemble
    from churn_assets.lib.serving.scorer import ScorerError, _calibrator_of

    pipeline = unwrap_pipeline(model)
    if isinstance(pipeline, StackedEnsemble):
        raise ExportError(
            "a stacked ensemble is not exported: its members' pipelines and the blender would "
            "be several preprocessing graphs in one model, and the converters have no "
            "StackedEnsemble; serve it with the compiled scorer, or promote a single family"
        )
    try:
        preprocess = pipeline.named_steps["preprocess"]
        estimator = pipeline.named_steps["model"]
    except (AttributeError, KeyError) as exc:
        raise ExportError(
            f"expected Pipeline(preprocess, model), got {type(pipeline).__name__}"
        ) from exc
    try:
        calibrator = _calibrator_of(model)
    except ScorerError as exc:
        raise ExportError(str(exc)) from exc
    if (
        calibrator is not None
        and _calibration_name(calibrator) == "isotonic"
        and type(estimator).__name__ in _FLOAT32_TREES
    ):
        raise ExportError(
            f"{family} with isotonic calibration is not exported: XGBoost sums its trees and "
            "takes the sigmoid in float32, which onnxruntime does not reproduce bit for bit "
            "(~1e-7 apart), and an isotonic step as steep as 1e3 turns that into more than "
            "the 1e-5 parity allowed (measured 9e-5 on the simulator); use sigmoid "
            "calibration, or another family, for an edge champion"
        )
    inputs = list(preprocess.named_steps["engineer"].feature_names_in_)
    numeric_inputs = {c for c in inputs if contract.column_info(c).kind == "numeric"}
    null_fills = {
        col: policy.value
        for col, policy in contract.nulls.items()
        if policy.policy == "fill" and col in inputs
    }
    g = GraphBuilder()
    encoded, width = build_preprocessing(g, preprocess, inputs, numeric_inputs, null_fills)
    raw, opsets = _model_scores(g, estimator, encoded, width, calibrated=calibrator is not None)
    probability = raw if calibrator is None else _calibrate(g, calibrator, raw)
    g.nodes.append(helper.make_node("Identity", [probability], ["probability"]))
    decided = g.op("GreaterOrEqual", "probability", g.const(np.array(float(threshold))))
    g.nodes.append(helper.make_node("Cast", [decided], ["label"], to=TensorProto.INT64))
    graph = helper.make_graph(
        g.nodes,
        "churn_champion",
        g.inputs,
        [
            helper.make_tensor_value_info("probability", TensorProto.DOUBLE, [None, 1]),
            helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
        ],
        initializer=g.initializers,
    )
    opset_imports = [helper.make_opsetid("", OPSET)]
    opset_imports += [helper.make_opsetid(d, v) for d, v in opsets.items() if d]
    onnx_model = helper.make_model(graph, opset_imports=opset_imports, producer_name="churn")
    onnx_model.ir_version = min(onnx_model.ir_version, 10)  # what onnxruntime 1.20+ reads
    calibration = "none" if calibrator is None else _calibration_name(calibrator)
    metadata = {
        "family": family,
        "model_version": str(model_version),
        "calibration": calibration,
        "threshold": repr(float(threshold)),
        "contract": Path(contract.path).name,
        "contract_sha256": _file_sha256(contract.path),
        "missing_categorical": repr(MISSING_TEXT),
    }
    onnx.helper.set_model_props(onnx_model, metadata)
    onnx.checker.check_model(onnx_model)
    result = ExportResult(
        onnx_model.SerializeToString(),
        family,
        calibration,
        float(threshold),
        inputs,
        metadata=metadata,
    )
    if check_rows is not None:
        diff = check_parity(model, result.onnx_bytes, check_rows, contract)
        if not diff <= tolerance:
            raise ExportError(
                f"{family} with {calibration} calibration: ONNX differs from the pipeline by "
                f"{diff:.3g} on the check rows (tolerance {tolerance:g})"
            )
    return result


def _file_sha256(path: str) -> str:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:  # a contract built in memory (tests)
        return ""


def _calibration_name(calibrator: Any) -> str:
    return "sigmoid" if type(calibrator).__name__ == "_SigmoidCalibration" else "isotonic"


# ---------------------------------------------------------------------- model step
def _model_scores(
    g: GraphBuilder, estimator: Any, encoded: str, width: int, *, calibrated: bool
) -> tuple[str, dict[str, int]]:
    """The estimator's ``[N, 1]`` float64 score: P(churn), or what the calibrator was fitted
    on (sklearn feeds it ``decision_function`` where the estimator has one)."""
    name = type(estimator).__name__
    if name == "LogisticRegression":
        if estimator.coef_.shape[0] != 1:
            raise ExportError("only binary logistic regression is exported")
        coef = g.const(np.asarray(estimator.coef_[0], dtype=np.float64).reshape(-1, 1))
        margin = g.op("Add", g.op("MatMul", encoded, coef), g.const(estimator.intercept_))
        return (margin if calibrated else g.op("Sigmoid", margin)), {}
    if name == "RandomForestClassifier":  # P(class 1) also under calibration
        from churn_assets.lib.export.trees import ML_OPSET as TREES_OPSET
        from churn_assets.lib.export.trees import forest_scores

        return forest_scores(g, estimator, encoded), {"ai.onnx.ml": TREES_OPSET}
    if name == "LGBMClassifier":  # under calibration, the raw log-odds (decision_function)
        from churn_assets.lib.export.trees import ML_OPSET as TREES_OPSET
        from churn_assets.lib.export.trees import lightgbm_scores

        scores = lightgbm_scores(g, estimator, encoded, raw=calibrated)
        return scores, {"ai.onnx.ml": TREES_OPSET}
    if name != "XGBClassifier":
        raise ExportError(
            f"no ONNX converter for {name} (families: logreg, random_forest, xgboost, lightgbm)"
        )
    converted = _convert_xgboost(estimator, width)
    return _inline(g, converted, encoded), {i.domain: i.version for i in converted.opset_import}


def _convert_xgboost(estimator: Any, width: int) -> Any:
    """onnxmltools' XGBoost converter (float32 inputs, thresholds and sums, as XGBoost's own
    predictor; it supports opsets up to 15)."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, width]))]
    return onnxmltools.convert_xgboost(estimator, initial_types=types, target_opset=15)


def _inline(g: GraphBuilder, converted: Any, encoded: str) -> str:
    """Copy a converted model's nodes into ``g`` (names prefixed), fed the encoded matrix as
    float32; return its P(class 1) (or raw score) column as float64."""
    from onnx import TensorProto, compose, helper

    prefix = g.name("m") + "_"
    converted = compose.add_prefix(converted, prefix)
    source = converted.graph.input[0].name
    g.nodes.append(helper.make_node("Cast", [encoded], [source], to=TensorProto.FLOAT))
    g.nodes.extend(converted.graph.node)
    g.initializers.extend(converted.graph.initializer)
    scores = next(o.name for o in converted.graph.output if o.name.endswith("probabilities"))
    column = g.op(
        "Slice", scores, g.const(np.array([1])), g.const(np.array([2])), g.const(np.array([1]))
    )
    return g.op("Cast", column, to=TensorProto.DOUBLE)


# ---------------------------------------------------------------------- calibration
def _calibrate(g: GraphBuilder, calibrator: Any, raw: str) -> str:
    if _calibration_name(calibrator) == "sigmoid":  # expit(-(a f + b))
        z = g.op(
            "Add",
            g.op("Mul", raw, g.const(np.array(float(calibrator.a_)))),
            g.const(np.array(float(calibrator.b_))),
        )
        return g.op("Sigmoid", g.op("Neg", z))
    if calibrator.out_of_bounds != "clip":
        raise ExportError(f"isotonic calibration with out_of_bounds={calibrator.out_of_bounds!r}")
    xs = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
    ys = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
    x = g.op(
        "Clip",
        raw,
        g.const(np.array(float(calibrator.X_min_))),
        g.const(np.array(float(calibrator.X_max_))),
    )
    if len(xs) == 1:
        return g.op("Add", g.op("Mul", x, g.const(np.array(0.0))), g.const(ys[:1]))
    # interp1d: i = searchsorted(xs, x, "left") clipped to [1, n-1]; lo = i-1, hi = i;
    # y = (y_hi - y_lo) / (x_hi - x_lo) * (x - x_lo) + y_lo.
    below = g.op("Cast", g.op("Less", g.const(xs.reshape(1, -1)), x), to=_int64())
    index = g.op("ReduceSum", below, g.const(np.array([1])), keepdims=1)
    hi = g.op("Clip", index, g.const(np.array(1)), g.const(np.array(len(xs) - 1)))
    lo = g.op("Sub", hi, g.const(np.array(1)))
    xs_c, ys_c = g.const(xs), g.const(ys)
    x_lo, x_hi = g.op("Gather", xs_c, lo), g.op("Gather", xs_c, hi)
    y_lo, y_hi = g.op("Gather", ys_c, lo), g.op("Gather", ys_c, hi)
    slope = g.op("Div", g.op("Sub", y_hi, y_lo), g.op("Sub", x_hi, x_lo))
    p = g.op("Add", g.op("Mul", slope, g.op("Sub", x, x_lo)), y_lo)
    # sklearn's calibrated predict_proba: a probability within 1e-5 above 1 becomes 1.
    return g.op("Min", p, g.const(np.array(1.0)))


def _int64() -> int:
    from onnx import TensorProto

    return TensorProto.INT64


# ---------------------------------------------------------------------- running it
def onnx_feeds(
    frame: pd.DataFrame | Mapping[str, Any], inputs: list[str], numeric: set[str]
) -> dict[str, np.ndarray]:
    """The model's inputs from a frame of contract fields (a null string as ``""``)."""
    feeds: dict[str, np.ndarray] = {}
    for col in inputs:
        values = pd.Series(frame[col])
        if col in numeric:
            feeds[col] = values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
        else:
            text = values.astype(object).where(values.notna(), MISSING_TEXT).astype(str)
            feeds[col] = text.to_numpy(dtype=object).reshape(-1, 1)
    return feeds


def session(onnx_bytes: bytes, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def onnx_predict(sess: Any, frame: pd.DataFrame, contract: Any) -> np.ndarray:
    """P(churn) from an onnxruntime session for a frame of contract fields."""
    inputs = [i.name for i in sess.get_inputs()]
    numeric = {i.name for i in sess.get_inputs() if i.type == "tensor(double)"}
    (proba,) = sess.run(["probability"], onnx_feeds(frame, inputs, numeric))
    return proba[:, 0]


def check_parity(model: Any, onnx_bytes: bytes, frame: pd.DataFrame, contract: Any) -> float:
    """max |P(onnx) - P(pipeline)| on ``frame`` (contract fields; the pipeline gets them with
    the contract's fill policies applied, as validation gives them to it)."""
    fills = {c: p.value for c, p in contract.nulls.items() if p.policy == "fill" and c in frame}
    expected = model.predict_proba(frame.fillna(fills))[:, 1]
    got = onnx_predict(session(onnx_bytes), frame, contract)
    return float(np.max(np.abs(got - expected))) if len(frame) else 0.0
