"""SHAP explanations in the language of the data contract.

Models see one-hot encoded, scaled columns; people think in contract fields. Contributions
are computed on the encoded columns by the explainer the model's family names
(:meth:`~churn_assets.lib.training.families.base.FamilySpec.shap_explainer`: :class:`TreeShap`
for the boosters, :class:`ForestShap` for random forests, :class:`LinearShap` for logistic
regression) and summed back to the field each encoded column came from, so a reason reads
"Contract = Month-to-month: +0.82", not five one-hot columns.

Every family's contributions are in one unit, **log-odds of churn** (:data:`UNITS`), so a
reason means the same whichever family is champion, and they add up:
``base_value + sum(contributions) == logit(P(churn))`` of the uncalibrated pipeline
(:meth:`FieldExplainer.model_output`). Logistic regression and the boosters are explained on
their log-odds margin directly. A forest averages probabilities, so TreeSHAP on it is exact in
probability units only; :class:`ForestShap` rescales each row's contributions by one positive
factor into log-odds (the row's ranking of fields, and every sign, is unchanged).

Calibration (sigmoid or isotonic) is a monotone map applied after the model, so it changes
probabilities but not which fields push a score up or down; explanations are of the
uncalibrated pipeline. Cost is bounded: the background and the explained rows are samples.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import pandas as pd

DEFAULT_BACKGROUND_ROWS = 200
# The unit of every contribution and base value (the service's /explain says so too).
UNITS = "log-odds"
# Probabilities are clipped this far from 0 and 1 before the logit: a forest whose trees all
# agree scores exactly 0 or 1, whose log-odds are infinite.
PROBABILITY_EPS = 1e-6


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)) with ``p`` clipped to [eps, 1 - eps] (finite for a certain forest)."""
    q = np.clip(np.asarray(p, dtype=np.float64), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return np.log(q) - np.log1p(-q)


def unwrap_pipeline(model: Any) -> Any:
    """The sklearn ``Pipeline`` inside a calibrated model (or the model itself)."""
    from sklearn.calibration import CalibratedClassifierCV

    if isinstance(model, CalibratedClassifierCV):
        inner = model.calibrated_classifiers_[0].estimator
        return getattr(inner, "estimator", inner)  # FrozenEstimator keeps it in .estimator
    return model


def encoded_sources(preprocessor: Any) -> list[str]:
    """For each column the preprocessing outputs, the field (or engineered feature) it
    came from."""
    encode = preprocessor.named_steps["encode"]
    sources: list[str] = []
    for name, transformer, columns in encode.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name == "categorical":
            onehot = transformer.named_steps["onehot"]
            for column, categories in zip(columns, onehot.categories_, strict=True):
                sources.extend([column] * len(categories))
        else:
            sources.extend(columns)
    return sources


class ShapValues(Protocol):
    """A SHAP explainer of a fitted estimator on encoded rows (what a family spec returns)."""

    kind: str  # "linear", "tree", ...: shown in the explanations' metadata

    @property
    def expected_value(self) -> Any:
        """The base value the contributions start from (log-odds)."""
        ...

    def values(self, encoded: np.ndarray) -> np.ndarray:
        """Rows x encoded columns: each column's contribution for class 1 (log-odds)."""
        ...


class LinearShap:
    """SHAP's LinearExplainer on the log-odds, the background as an independent masker."""

    kind = "linear"

    def __init__(self, estimator: Any, reference: np.ndarray):
        import shap

        self._explainer = shap.LinearExplainer(estimator, shap.maskers.Independent(reference))

    @property
    def expected_value(self) -> Any:
        return self._explainer.expected_value

    def values(self, encoded: np.ndarray) -> np.ndarray:
        return self._explainer(encoded).values


class TreeShap:
    """SHAP's TreeExplainer (path-dependent: the trees' own cover, no background needed)."""

    kind = "tree"

    def __init__(self, estimator: Any):
        import shap

        self._explainer = shap.TreeExplainer(estimator)

    @property
    def expected_value(self) -> Any:
        # Read through: SHAP can revise it while computing values (XGBoost's base score).
        return self._explainer.expected_value

    def values(self, encoded: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            # shap 0.51 warns on every LightGBM binary model that its output "changed to a
            # list"; it returns one (rows, columns) array, as handled below.
            warnings.filterwarnings("ignore", "LightGBM binary classifier", UserWarning)
            values = np.asarray(self._explainer.shap_values(encoded), dtype=np.float64)
        if values.ndim == 3:  # (rows, columns, classes) for sklearn forests
            values = values[:, :, 1]
        return values


class ForestShap(TreeShap):
    """TreeSHAP of a random forest, in log-odds like every other family.

    A forest's output is the mean of its trees' probabilities, so TreeSHAP's contributions
    add up to P(churn) minus the base probability ``b``. Each row's contributions are scaled
    by ``(logit(p) - logit(b)) / (p - b)`` (the slope of the logit between the two, always
    positive): they then add up to ``logit(p) - logit(b)`` exactly, and keep their signs and
    their order within the row. This is a per-row change of units, not the Shapley values of
    a log-odds model (a forest has none: the logit of an average is not a sum over trees).
    """

    @property
    def probability_base(self) -> float:
        """The base value in probability units (TreeSHAP's own)."""
        return float(np.asarray(self._explainer.expected_value).reshape(-1)[-1])

    @property
    def expected_value(self) -> Any:
        return float(logit(self.probability_base))

    def values(self, encoded: np.ndarray) -> np.ndarray:
        values = super().values(encoded)
        base = self.probability_base
        p = base + values.sum(axis=1)
        gap = p - base
        # Where p is (numerically) the base the slope is the logit's derivative there.
        tiny = np.abs(gap) < 1e-12
        slope = np.where(
            tiny,
            1.0 / (base * (1.0 - base)),
            (logit(p) - logit(base)) / np.where(tiny, 1.0, gap),
        )
        return values * slope[:, None]


class FieldExplainer:
    """SHAP contributions per contract field for one fitted pipeline.

    Args:
        model: a fitted pipeline (preprocess -> model) or a calibrated wrapper of one.
        background: rows of contract fields used as the reference distribution.
        max_background: at most this many background rows (sampled).
    """

    def __init__(
        self,
        model: Any,
        background: pd.DataFrame,
        max_background: int = DEFAULT_BACKGROUND_ROWS,
        seed: int = 0,
    ):
        from churn_assets.lib.training.families import spec_of

        self.pipeline = unwrap_pipeline(model)
        sample = background.sample(n=min(max_background, len(background)), random_state=seed)
        if type(self.pipeline).__name__ == "StackedEnsemble":
            # The blend of the families (lib/training/ensemble.py): its members' weighted
            # log-odds SHAP values, on the preprocessing they share.
            from churn_assets.lib.serving.ensemble_scorer import ensemble_explainer

            self.preprocessor, self.shap = ensemble_explainer(self.pipeline, sample)
            self.estimator = self.pipeline
        else:
            self.preprocessor = self.pipeline.named_steps["preprocess"]
            self.estimator = self.pipeline.named_steps["model"]
            reference = self.preprocessor.transform(sample)
            self.shap = spec_of(self.estimator).shap_explainer(self.estimator, reference)
        self.sources = encoded_sources(self.preprocessor)
        self.fields = list(dict.fromkeys(self.sources))
        self.kind = self.shap.kind
        self.units = UNITS
        # Column i of the encoded matrix adds into field column group[i].
        self._group = np.array([self.fields.index(s) for s in self.sources])

    @property
    def base_value(self) -> float:
        """What the contributions start from, in log-odds (a background's typical score)."""
        return float(np.asarray(self.shap.expected_value).reshape(-1)[-1])

    def model_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The explained score of each row in the contributions' units: the log-odds of the
        uncalibrated pipeline's P(churn) (``base_value`` plus a row's contributions)."""
        return logit(self.pipeline.predict_proba(frame)[:, 1])

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows x contract fields: each field's contribution to the log-odds of churn."""
        values = self.shap.values(self.preprocessor.transform(frame))
        summed = np.zeros((len(frame), len(self.fields)))
        np.add.at(summed.T, self._group, values.T)
        return pd.DataFrame(summed, columns=self.fields, index=frame.index)

    def top_reasons(self, frame: pd.DataFrame, k: int = 3) -> list[list[dict[str, Any]]]:
        """For each row, the ``k`` fields that push its churn score up the most.

        Returns:
            Per row, a list of ``{"feature", "value", "contribution"}`` (largest first);
            the value is the row's own value of that field (engineered features included).
        """
        contributions = self.contributions(frame)
        shown = self.preprocessor.named_steps["engineer"].transform(frame)
        order = np.argsort(-contributions.to_numpy(), axis=1)[:, :k]
        reasons = []
        for row, top in enumerate(order):
            reasons.append(
                [
                    {
                        "feature": self.fields[j],
                        "value": _plain(shown.iloc[row][self.fields[j]]),
                        "contribution": float(contributions.iat[row, j]),
                    }
                    for j in top
                ]
            )
        return reasons


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def global_importance(contributions: pd.DataFrame) -> pd.DataFrame:
    """Mean |contribution| per field, largest first."""
    importance = contributions.abs().mean().sort_values(ascending=False)
    return importance.rename_axis("feature").reset_index(name="mean_abs_shap")


def beeswarm_png(contributions: pd.DataFrame, frame: pd.DataFrame, top: int = 15) -> bytes:
    """SHAP's beeswarm of the top fields (numeric fields coloured by value)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    from churn_assets.lib.plots import figure_png

    fields = global_importance(contributions)["feature"].head(top).tolist()
    data = np.column_stack(
        [
            pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype=float)
            if f in frame and pd.api.types.is_numeric_dtype(frame[f])
            else np.full(len(frame), np.nan)
            for f in fields
        ]
    )
    explanation = shap.Explanation(
        values=contributions[fields].to_numpy(), data=data, feature_names=fields
    )
    with warnings.catch_warnings():
        # Categorical fields have no numeric value to colour by (NaN on purpose, drawn grey);
        # SHAP's colour scaling then warns about an all-NaN slice.
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        shap.plots.beeswarm(explanation, max_display=top, show=False)
    fig = plt.gcf()
    fig.set_size_inches(7, 0.35 * len(fields) + 1.5)
    return figure_png(fig)


def importance_png(importance: pd.DataFrame, top: int = 15) -> bytes:
    """Bar chart of global importance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from churn_assets.lib.plots import figure_png

    shown = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1))
    ax.barh(shown["feature"], shown["mean_abs_shap"], color="#4c72b0")
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title("Global feature importance")
    return figure_png(fig)
