"""A fitted champion compiled into a fast scorer for the request path.

The champion is an sklearn ``Pipeline`` (feature builder -> ``ColumnTransformer`` -> model),
optionally wrapped in ``CalibratedClassifierCV``. Calling it on a one-row ``DataFrame`` costs
~14 ms here, almost all of it pandas and ``ColumnTransformer`` bookkeeping, so the service
does not do that. :meth:`CompiledScorer.compile` reads the fitted parameters once
(imputation values, scaler means and scales, one-hot category positions, the model, the
calibrator) and scores plain columns with NumPy:

- engineered features: the declarations the pipeline's feature builder stores, compiled by
  the same module (:mod:`churn_assets.lib.features.kinds`: one definition per kind, a column
  path and a record path);
- encoding: precomputed dictionaries, no pandas (a capped field's rare or unseen category
  takes its ``__other__`` column, as :class:`~churn_assets.lib.features.capping.CategoryCapper`
  maps it);
- model: its family's ``FamilySpec.raw_scorer`` (a dot product for logistic regression, the
  boosters' own libraries on one thread, a vectorised walk over all trees for a forest);
- calibration: the fitted calibrator objects themselves.

Every step reproduces sklearn's arithmetic (float32 tree inputs, the calibrator's clipping),
so probabilities equal the MLflow model's to ~1e-15; a parity test holds it to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.capping import OTHER
from churn_assets.lib.features.engineering import feature_column

# From this many rows on, :meth:`CompiledScorer.encode` looks up each column's distinct
# values once instead of every value (measured: 62 -> ~4 ms for 10,000 rows; below ~30 rows
# the per-column pandas call costs more than the loop it replaces).
FACTORIZE_ROWS = 32


class ScorerError(ValueError):
    """The model cannot be compiled (an unsupported pipeline step or estimator)."""


@dataclass(frozen=True)
class _CategoricalEncoding:
    column: str
    offset: int
    positions: dict[Any, int]  # category -> output column (absolute)
    fill: Any  # most-frequent value for a missing entry
    other: int = -1  # the column of any other category (-1: none, it encodes as zeros)


@dataclass
class CompiledScorer:
    """Scores rows of contract fields without pandas. Build with :meth:`compile`.

    Attributes:
        input_columns: the raw fields a row must carry (the contract's feature columns).
        family: the family's registered name (recorded; the estimator's class picks its spec).
    """

    input_columns: list[str]
    numeric_inputs: list[str]
    family: str
    engineered: list[Any]  # CompiledFeature, from the builder's stored declarations
    numeric_columns: list[str]
    numeric_offset: int
    numeric_fill: np.ndarray
    numeric_mean: np.ndarray
    numeric_scale: np.ndarray
    categorical: list[_CategoricalEncoding]
    width: int
    null_fills: dict[str, Any]
    estimator: Any
    # The family's scorer of encoded rows, returning what the calibrator was fitted on.
    raw_scores: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    calibrator: Any | None = None
    source: Any = field(default=None, repr=False)  # the compiled model (for SHAP, etc.)

    # ------------------------------------------------------------------ compile
    @classmethod
    def compile(cls, model: Any, contract: DataContract, family: str) -> CompiledScorer:
        """Read the fitted parameters of ``model`` (a pipeline or a calibrated pipeline).

        The estimator is compiled by the spec of the family whose class it is (``family``, a
        registry tag, is only recorded).

        Raises:
            ScorerError: for a pipeline shape or estimator this module does not know.
        """
        from churn_assets.lib.evaluation.explain import unwrap_pipeline
        from churn_assets.lib.serving.ensemble_scorer import EnsembleScorer, StackedEnsemble
        from churn_assets.lib.training.families import spec_of

        pipeline = unwrap_pipeline(model)
        if isinstance(pipeline, StackedEnsemble):  # one scorer per member, then the blend
            return EnsembleScorer.compile(model, contract, family)  # type: ignore[return-value]
        try:
            preprocess = pipeline.named_steps["preprocess"]
            estimator = pipeline.named_steps["model"]
            builder = preprocess.named_steps["engineer"]
            encode = preprocess.named_steps["encode"]
        except (AttributeError, KeyError) as exc:
            raise ScorerError(
                "expected Pipeline(preprocess=Pipeline(engineer, encode), model); "
                f"got {type(pipeline).__name__}"
            ) from exc
        numeric_columns: list[str] = []
        numeric_offset = 0
        fills, means, scales = [], [], []
        categorical: list[_CategoricalEncoding] = []
        offset = 0
        for name, transformer, columns in encode.transformers_:
            if name == "remainder" or transformer == "drop":
                continue
            if name == "numeric":
                impute, scale = transformer.named_steps["impute"], transformer.named_steps["scale"]
                numeric_columns, numeric_offset = list(columns), offset
                fills = impute.statistics_
                means = scale.mean_ if scale.mean_ is not None else np.zeros(len(columns))
                scales = scale.scale_ if scale.scale_ is not None else np.ones(len(columns))
                offset += len(columns)
            elif name == "categorical":
                impute = transformer.named_steps["impute"]
                onehot = transformer.named_steps["onehot"]
                if onehot.drop_idx_ is not None or getattr(onehot, "_infrequent_enabled", False):
                    raise ScorerError(
                        "one-hot encoders with drop/infrequent categories are not supported"
                    )
                for column, cats, fill in zip(
                    columns, onehot.categories_, impute.statistics_, strict=True
                ):
                    positions = {cat: offset + i for i, cat in enumerate(cats)}
                    other = positions.get(OTHER, -1)  # present only if the field was capped
                    categorical.append(_CategoricalEncoding(column, offset, positions, fill, other))
                    offset += len(cats)
            else:
                raise ScorerError(f"unknown ColumnTransformer step {name!r}")
        calibrator = _calibrator_of(model)
        try:
            raw_scores = spec_of(estimator).raw_scorer(estimator, calibrator is not None)
        except LookupError as exc:
            raise ScorerError(f"no compiled scorer for {type(estimator).__name__}") from exc
        inputs = list(builder.feature_names_in_)
        scorer = cls(
            input_columns=inputs,
            numeric_inputs=[c for c in inputs if contract.column_info(c).kind == "numeric"],
            family=family,
            engineered=builder.compiled(),
            numeric_columns=numeric_columns,
            numeric_offset=numeric_offset,
            numeric_fill=np.asarray(fills, dtype=np.float64),
            numeric_mean=np.asarray(means, dtype=np.float64),
            numeric_scale=np.asarray(scales, dtype=np.float64),
            categorical=categorical,
            width=offset,
            null_fills={
                col: policy.value
                for col, policy in contract.nulls.items()
                if policy.policy == "fill" and col in inputs
            },
            estimator=estimator,
            raw_scores=raw_scores,
            calibrator=calibrator,
            source=model,
        )
        scorer._prepare_rows()
        return scorer

    def _prepare_rows(self) -> None:
        self._row_features = list(self.engineered)
        # Python floats: scalar arithmetic on NumPy scalars is several times slower.
        self._fill = [float(v) for v in self.numeric_fill]
        self._mean = [float(v) for v in self.numeric_mean]
        self._scale = [float(v) for v in self.numeric_scale]

    # ------------------------------------------------------------------ inputs
    def columns_from_records(self, records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Column arrays from records (dicts of raw fields), nulls as NaN / None."""
        out: dict[str, np.ndarray] = {}
        numeric = set(self.numeric_inputs)
        for col in self.input_columns:
            values = [r.get(col) for r in records]
            if col in numeric:
                out[col] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            else:
                out[col] = np.array(values, dtype=object)
        return out

    def columns_from_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Column arrays from a frame of contract fields (batch scoring)."""
        return {col: feature_column(frame[col]) for col in self.input_columns}

    # ------------------------------------------------------------------ scoring
    def encode(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model matrix the fitted ``ColumnTransformer`` would produce (float64)."""
        columns = dict(columns)
        for col, value in self.null_fills.items():
            data = columns[col]
            if data.dtype == object:
                columns[col] = np.array([value if v is None else v for v in data], dtype=object)
            else:
                columns[col] = np.where(np.isnan(data), value, data)
        for feature in self._row_features:  # resolved once, at compile time
            columns[feature.name] = feature.compute(columns)
        n = len(columns[self.input_columns[0]])
        X = np.zeros((n, self.width), dtype=np.float64)
        if self.numeric_columns:
            numeric = np.column_stack(
                [np.asarray(columns[c], dtype=np.float64) for c in self.numeric_columns]
            )
            numeric = np.where(np.isnan(numeric), self.numeric_fill, numeric)
            numeric -= self.numeric_mean
            numeric /= self.numeric_scale
            X[:, self.numeric_offset : self.numeric_offset + len(self.numeric_columns)] = numeric
        if n >= FACTORIZE_ROWS:
            self._encode_categorical_factorized(columns, X)
            return X
        # One-hot positions collected in plain Python and set with one fancy assignment:
        # per-column NumPy calls cost more than the lookups themselves for small batches.
        hot_rows: list[int] = []
        hot_cols: list[int] = []
        for enc in self.categorical:
            get, fill, other = enc.positions.get, enc.fill, enc.other
            for i, value in enumerate(columns[enc.column]):
                if value is None or value != value:  # None or NaN: the imputed category
                    value = fill
                j = get(value, other)  # unknown: all zeros, or a capped field's other
                if j >= 0:
                    hot_rows.append(i)
                    hot_cols.append(j)
        X[hot_rows, hot_cols] = 1.0
        return X

    def _encode_categorical_factorized(
        self, columns: Mapping[str, np.ndarray], X: np.ndarray
    ) -> None:
        """The one-hot block of :meth:`encode` for larger batches: each column's distinct
        values are looked up once (``pandas.factorize``, a C hash table), then every row's
        position is one take. Same positions as the per-value loop: a null (None or NaN)
        takes the imputed category, an unknown value its ``other`` column or none."""
        rows = np.arange(X.shape[0])
        for enc in self.categorical:
            codes, uniques = pd.factorize(np.asarray(columns[enc.column], dtype=object))
            fill = enc.positions.get(enc.fill, enc.other)
            lookup = np.array(
                [enc.positions.get(v, enc.other) for v in uniques.tolist()] + [fill],
                dtype=np.int64,
            )
            hot = lookup[codes]  # code -1 (null) takes the last entry: the fill's position
            keep = hot >= 0
            X[rows[keep], hot[keep]] = 1.0

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """P(churn) for an encoded matrix."""
        raw = self.raw_scores(X)
        if self.calibrator is None:
            return raw
        p = self._calibrate(raw)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0  # as sklearn's calibrated predict_proba does
        return p

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The calibrator's ``predict`` without its per-call input validation (~90 µs a
        call), same arithmetic: sigmoid ``expit(-(a*f + b))``; isotonic: clip to the fitted
        range, then its interpolating function."""
        cal = self.calibrator
        if type(cal).__name__ == "_SigmoidCalibration":
            from scipy.special import expit

            return expit(-(cal.a_ * raw + cal.b_))
        if type(cal).__name__ == "IsotonicRegression" and cal.out_of_bounds == "clip":
            values = raw.astype(cal.X_thresholds_.dtype, copy=False)
            return np.asarray(cal.f_(np.clip(values, cal.X_min_, cal.X_max_)), dtype=np.float64)
        return np.asarray(cal.predict(raw), dtype=np.float64)

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(churn) for column arrays of raw fields."""
        return self.score_matrix(self.encode(columns))

    def encode_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """:meth:`encode` for one record, in plain Python (a 1 x width matrix).

        The request path scores one customer at a time; on 1-element arrays NumPy's per-call
        overhead dominates (~130 µs per record through :meth:`encode`, ~15 µs here). Same
        arithmetic, same order of operations; ``test_scorer.py`` checks both paths agree.
        """
        row = {col: record.get(col) for col in self.input_columns}
        for col, value in self.null_fills.items():
            current = row[col]
            if current is None or current != current:
                row[col] = value
        for feature in self._row_features:
            row[feature.name] = feature.compute_row(row)
        x = np.zeros((1, self.width), dtype=np.float64)
        offset = self.numeric_offset
        for i, col in enumerate(self.numeric_columns):
            value = row[col]
            value = self._fill[i] if value is None or value != value else float(value)
            x[0, offset + i] = (value - self._mean[i]) / self._scale[i]
        for enc in self.categorical:
            value = row[enc.column]
            if value is None or value != value:
                value = enc.fill
            j = enc.positions.get(value, enc.other)
            if j >= 0:
                x[0, j] = 1.0
        return x

    def predict_proba(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """P(churn) for records (dicts of raw contract fields) or a frame of them."""
        if isinstance(records, pd.DataFrame):
            return self.score_columns(self.columns_from_frame(records))
        if len(records) == 1:
            return self.score_matrix(self.encode_record(records[0]))
        return self.score_columns(self.columns_from_records(records))


def _calibrator_of(model: Any) -> Any | None:
    from sklearn.calibration import CalibratedClassifierCV

    if not isinstance(model, CalibratedClassifierCV):
        return None
    if len(model.calibrated_classifiers_) != 1:
        # An ensemble of calibrators averages several; the platform fits one on a frozen
        # model (see champion.calibrate), so anything else is not ours.
        raise ScorerError("expected one calibrated classifier (a frozen, prefit estimator)")
    calibrated = model.calibrated_classifiers_[0]
    if calibrated.method not in ("sigmoid", "isotonic"):
        raise ScorerError(f"unsupported calibration method {calibrated.method!r}")
    return calibrated.calibrators[0]
