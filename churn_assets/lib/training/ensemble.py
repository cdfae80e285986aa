"""A stacked ensemble of the tuned families: the fifth candidate of champion selection.

**Members** are the tuned families' pipelines as they are (each refitted on all training rows
by :func:`~churn_assets.lib.training.tuning.fit_final`), so the ensemble adds no model to
serve, only a blend.

**Blender**: a logistic regression on the members' logits, ``P = expit(b + sum_k w_k *
logit(p_k))``, with non-negative weights and a small L2 penalty (correlated members share
weight instead of cancelling each other with signs no one can read). It is fitted on
**out-of-fold** predictions of the training rows: each member's best configuration is refitted
on K-1 folds and scores the K-th (:func:`stack`; the same stratified folds for every member,
boosters with their final round count), so the blender learns how far to trust each member on
rows it did not see. A logistic blender is calibrated by construction on those rows; it still
goes through the same calibration choice as any candidate (``champion.calibrate``). The
out-of-fold refits are the cost: K fits per member, stated in ``StackResult.describe``.

**Explained exactly**: the blend is linear in the members' log-odds, so its SHAP values in
log-odds are ``sum_k w_k * phi_k`` and its base value ``b + sum_k w_k * base_k``
(:class:`EnsembleShap`, beside the model class; Shapley values are linear in the game).
They add up to the ensemble's log-odds, as every family's do (``lib/evaluation/explain.py``).

**Served** by :mod:`churn_assets.lib.serving.ensemble_scorer`, which also defines the
:class:`StackedEnsemble` class itself (the bento ships ``lib/serving``, not this module):
one compiled scorer per member, the same :meth:`StackedEnsemble.blend` and the calibrator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

# Defined beside its compiled scorer (with its explainer): the bento ships lib/serving, so a
# pickled ensemble champion loads, scores and explains where the service runs. Re-exported
# here, where ensembles are built.
from churn_assets.lib.serving.ensemble_scorer import (  # noqa: F401 (re-exported)
    ENSEMBLE,
    EnsembleShap,
    StackedEnsemble,
    member_logit,
    shared_preprocessing,
)

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.training.tuned import TunedModel

# The blender's L2 penalty on the mean log-loss: small, it only breaks ties between
# near-identical members.
BLENDER_L2 = 1e-3


def fit_blender(
    logits: np.ndarray, y: np.ndarray, l2: float = BLENDER_L2
) -> tuple[np.ndarray, float]:
    """Non-negative weights and an intercept minimising the mean log-loss plus ``l2/2 *
    |w|^2`` (L-BFGS-B with bounds; the loss is convex, so the optimum is unique)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    Z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, k = Z.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k], theta[k]
        z = Z @ w + b
        value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w
        r = expit(z) - y
        return float(value), np.concatenate([Z.T @ r / n + l2 * w, [r.mean()]])

    start = np.concatenate([np.full(k, 1.0 / k), [0.0]])
    bounds = [(0.0, None)] * k + [(None, None)]
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return fit.x[:k], float(fit.x[k])


@dataclass
class StackResult:
    """The ensemble and what building it cost and showed."""

    ensemble: StackedEnsemble
    folds: int
    oof_roc_auc: float  # of the blend, on the training rows (the leaderboard's cv_roc_auc)
    member_oof_roc_auc: dict[str, float]
    fits: int  # out-of-fold refits: folds x members
    seconds: float
    member_seconds: dict[str, float]
    dropped: list[str]  # families the blender gave no weight: not members

    def describe(self) -> dict[str, Any]:
        """For the asset's metadata and the MLflow run."""
        return {
            "members": list(self.ensemble.weights),
            "weights": {k: round(v, 4) for k, v in self.ensemble.weights.items()},
            "dropped_zero_weight": self.dropped,
            "intercept": round(self.ensemble.intercept, 4),
            "folds": self.folds,
            "oof_roc_auc": round(self.oof_roc_auc, 4),
            "member_oof_roc_auc": {k: round(v, 4) for k, v in self.member_oof_roc_auc.items()},
            "refit_cost": f"{self.fits} out-of-fold fits in {self.seconds:.1f} s",
            "member_seconds": {k: round(v, 1) for k, v in self.member_seconds.items()},
        }


def out_of_fold_scores(
    tuned: TunedModel, X: np.ndarray, y: np.ndarray, folds: list[Any], threads: int, seed: int
) -> np.ndarray:
    """P(churn) of each training row from the member's best configuration refitted on the
    other folds (encoded rows ``X``; boosters with their final number of rounds)."""
    from churn_assets.lib.training.families import spec
    from churn_assets.lib.training.training_data import positive_weight
    from churn_assets.lib.training.tuning import estimator_params

    family_spec = spec(tuned.family)
    # As fit_final builds the member: the re-weighting of all training rows.
    params = estimator_params(tuned.result, positive_weight(y))
    out = np.zeros(len(y))
    for fit_idx, score_idx in folds:
        estimator = family_spec.make_estimator(
            params, threads=threads, seed=seed, n_estimators=tuned.result.final_rounds
        )
        family_spec.fit(estimator, X[fit_idx], y[fit_idx])
        out[score_idx] = estimator.predict_proba(X[score_idx])[:, 1]
    return out


def stack(
    tuned: list[TunedModel],
    train_set: pd.DataFrame,
    contract: DataContract,
    folds: int = 3,
    *,
    seed: int,
    threads: int = 1,
) -> StackResult:
    """Blend the tuned families (see the module docstring); members in the order given.

    Raises:
        ValueError: with fewer than two members, or members that do not share one
            preprocessing (the explainer needs one encoding).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns

    if len(tuned) < 2:
        raise ValueError(f"an ensemble needs at least two tuned families, got {len(tuned)}")
    start = time.perf_counter()
    columns = model_input_columns(contract)
    y = train_set[TARGET_COL].to_numpy().astype(int)
    preprocess = tuned[0].pipeline.named_steps["preprocess"]
    X = preprocess.transform(train_set[columns])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
    oof, seconds = {}, {}
    for member in tuned:
        began = time.perf_counter()
        oof[member.family] = out_of_fold_scores(member, X, y, splits, threads, seed)
        seconds[member.family] = time.perf_counter() - began
    logits = np.column_stack([member_logit(p) for p in oof.values()])
    coef, intercept = fit_blender(logits, y)
    # A member the blender gives no weight adds nothing but its serving and explaining cost:
    # it is left out (dropping a 0 * logit term leaves the blend as it is).
    keep = [k for k, w in enumerate(coef) if w > 0] or list(range(len(tuned)))
    ensemble = StackedEnsemble(
        [(tuned[k].family, tuned[k].pipeline) for k in keep],
        [float(coef[k]) for k in keep],
        intercept,
    )
    shared_preprocessing(ensemble, train_set[columns].head(200))
    return StackResult(
        ensemble=ensemble,
        folds=folds,
        oof_roc_auc=float(roc_auc_score(y, ensemble.blend(logits[:, keep]))),
        member_oof_roc_auc={k: float(roc_auc_score(y, p)) for k, p in oof.items()},
        fits=folds * len(tuned),
        seconds=time.perf_counter() - start,
        dropped=[t.family for k, t in enumerate(tuned) if k not in keep],
        member_seconds=seconds,
    )
