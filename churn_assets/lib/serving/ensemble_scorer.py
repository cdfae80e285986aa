"""A stacked ensemble (built by ``lib/training/ensemble.py``), the model class and its compiled
scorer for the request path.

:class:`StackedEnsemble` and its explainer (:class:`EnsembleShap`: the members' log-odds SHAP
values weighted by the blender, exact since the blend is linear in the members' log-odds) are
defined here, not where ensembles are built, because the bento ships ``lib/serving``: a
pickled ensemble champion must load, score and explain where the service runs.

One :class:`~churn_assets.lib.serving.scorer.CompiledScorer` per member pipeline (each scores
its member's P(churn) as the pipeline does, to ~1e-15), then the ensemble's own
:meth:`~churn_assets.lib.training.ensemble.StackedEnsemble.blend` of their logits (one
definition: the same code scores in training and in serving), then the calibrator fitted
around the ensemble, with the compiled scorer's calibration arithmetic. A parity test holds
it to the ensemble's ``predict_proba`` within 1e-9 on the batch and the single-record paths.

A request costs each member's encoding and scoring: about members x one family's time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from churn_assets.lib.contract import DataContract

ENSEMBLE = "ensemble"


def member_logit(p: np.ndarray) -> np.ndarray:
    """The log-odds a member contributes (clipped as the explainer clips: a forest whose trees
    all agree scores exactly 0 or 1)."""
    from churn_assets.lib.evaluation.explain import logit

    return logit(p)


class StackedEnsemble(ClassifierMixin, BaseEstimator):
    """Fitted member pipelines blended by a logistic regression on their logits.

    Takes the raw contract frame, like every candidate. Built by :func:`stack`; picklable
    (MLflow, the artifact store and the bento save it as they save a pipeline).

    Args:
        members: ``(family, fitted pipeline)`` pairs.
        coef: the blender's weight of each member's logit (non-negative).
        intercept: the blender's intercept.
    """

    def __init__(self, members: list[tuple[str, Any]], coef: list[float], intercept: float):
        self.members = members
        self.coef = coef
        self.intercept = intercept
        self.classes_ = np.array([0, 1])

    def __sklearn_is_fitted__(self) -> bool:
        return True  # built from fitted members and a fitted blender

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> StackedEnsemble:
        """Not how it is fitted: :func:`stack` fits the blender on out-of-fold scores."""
        raise NotImplementedError(
            "build a StackedEnsemble with churn_assets.lib.training.ensemble.stack"
        )

    @property
    def weights(self) -> dict[str, float]:
        """Each member's blender weight."""
        return {name: float(w) for (name, _), w in zip(self.members, self.coef, strict=True)}

    def member_logits(self, X: pd.DataFrame) -> np.ndarray:
        """Rows x members: each member's log-odds of churn."""
        return np.column_stack(
            [member_logit(pipeline.predict_proba(X)[:, 1]) for _, pipeline in self.members]
        )

    def blend(self, logits: np.ndarray) -> np.ndarray:
        """P(churn) from rows x members logits (the compiled scorer calls this too)."""
        from scipy.special import expit

        return expit(logits @ np.asarray(self.coef, dtype=np.float64) + self.intercept)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.blend(self.member_logits(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def shared_preprocessing(ensemble: StackedEnsemble, sample: pd.DataFrame) -> Any:
    """The members' one preprocessing (the first member's), checked to encode ``sample`` as
    every member's own does.

    Raises:
        ValueError: naming the member whose encoding differs.
    """
    first = ensemble.members[0][1].named_steps["preprocess"]
    reference = first.transform(sample)
    for name, pipeline in ensemble.members[1:]:
        encoded = pipeline.named_steps["preprocess"].transform(sample)
        if encoded.shape != reference.shape or not np.array_equal(encoded, reference):
            raise ValueError(
                f"ensemble member {name} encodes rows differently from "
                f"{ensemble.members[0][0]}: members must share the fitted feature_preprocessor"
            )
    return first


class EnsembleShap:
    """The blend's SHAP values in log-odds: the members' log-odds SHAP values weighted by the
    blender (exact: the blend is linear in the members' log-odds)."""

    kind = "ensemble"

    def __init__(self, ensemble: StackedEnsemble, reference: np.ndarray):
        from churn_assets.lib.training.families import spec_of

        self.weights = np.asarray(ensemble.coef, dtype=np.float64)
        self.intercept = ensemble.intercept
        self.members = []
        for _, pipeline in ensemble.members:
            estimator = pipeline.named_steps["model"]
            self.members.append(spec_of(estimator).shap_explainer(estimator, reference))

    @property
    def expected_value(self) -> float:
        bases = [float(np.asarray(m.expected_value).reshape(-1)[-1]) for m in self.members]
        return self.intercept + float(self.weights @ np.asarray(bases))

    def values(self, encoded: np.ndarray) -> np.ndarray:
        total = np.zeros(encoded.shape, dtype=np.float64)
        for weight, member in zip(self.weights, self.members, strict=True):
            if weight != 0.0:
                total += weight * member.values(encoded)
        return total


def ensemble_explainer(ensemble: StackedEnsemble, sample: pd.DataFrame) -> tuple[Any, Any]:
    """The shared preprocessing and the :class:`EnsembleShap` for a background ``sample`` of
    contract fields (what ``FieldExplainer`` needs of a model)."""
    preprocess = shared_preprocessing(ensemble, sample)
    return preprocess, EnsembleShap(ensemble, preprocess.transform(sample))


@dataclass
class EnsembleScorer:
    """Scores rows of contract fields with every member's compiled scorer and the blend; the
    interface the predictor, batch scoring and the service use of a ``CompiledScorer``.

    Build with :meth:`compile`.
    """

    family: str
    members: list[Any]  # CompiledScorer, one per member, in the blender's order
    ensemble: Any = field(repr=False)  # the StackedEnsemble (its blend)
    calibrator: Any | None = None
    source: Any = field(default=None, repr=False)  # the compiled model (for SHAP, etc.)

    @classmethod
    def compile(cls, model: Any, contract: DataContract, family: str) -> EnsembleScorer:
        """Compile a ``StackedEnsemble`` or a calibrated wrapper of one.

        Raises:
            ScorerError: for a member the compiled scorer does not know.
        """
        from churn_assets.lib.evaluation.explain import unwrap_pipeline
        from churn_assets.lib.serving.scorer import (
            CompiledScorer,
            _calibrator_of,  # the one rule of which calibrators the platform fits
        )

        ensemble = unwrap_pipeline(model)
        members = [
            CompiledScorer.compile(pipeline, contract, name) for name, pipeline in ensemble.members
        ]
        return cls(
            family=family,
            members=members,
            ensemble=ensemble,
            calibrator=_calibrator_of(model),
            source=model,
        )

    @property
    def input_columns(self) -> list[str]:
        return self.members[0].input_columns

    @property
    def null_fills(self) -> dict[str, Any]:
        """What the members fill a null with (one preprocessing: the same for all)."""
        return self.members[0].null_fills

    def _finish(self, member_p: list[np.ndarray]) -> np.ndarray:
        from churn_assets.lib.serving.scorer import CompiledScorer

        raw = self.ensemble.blend(np.column_stack([member_logit(p) for p in member_p]))
        if self.calibrator is None:
            return raw
        # The compiled scorer's calibrator arithmetic (it reads only ``self.calibrator``).
        p = CompiledScorer._calibrate(self, raw)  # type: ignore[arg-type]
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0  # as sklearn's calibrated predict_proba does
        return p

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(churn) for column arrays of raw fields."""
        return self._finish([m.score_columns(columns) for m in self.members])

    def predict_proba(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """P(churn) for records (dicts of raw contract fields) or a frame of them."""
        if isinstance(records, pd.DataFrame):
            columns = self.members[0].columns_from_frame(records)
            return self.score_columns(columns)
        if len(records) == 1:
            return self._finish([m.predict_proba(records) for m in self.members])
        return self.score_columns(self.members[0].columns_from_records(records))
