"""What a model family must say about itself (:class:`FamilySpec`) and the search space the
two gradient-boosting families share. Import-light, like the family modules."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from churn_assets.lib.evaluation.explain import ShapValues

# The response a calibrator was fitted on, from an encoded matrix (see ``raw_scorer``).
RawScorer = Callable[["np.ndarray"], "np.ndarray"]


class FamilySpec(abc.ABC):
    """One model family: how it is searched, built, fitted, served and explained.

    Attributes:
        name: the family's registered name (its module's name).
        kinds: Dagster kinds of its tuning asset (besides ``optuna`` and ``mlflow``).
        estimator_class: class name of its fitted estimator; the scorer and the explainer
            recognise a model of the family by it.
        requirements: pip packages its models need beyond scikit-learn's stack (MLflow model
            requirements and the bento).
        early_stopping: the number of boosting rounds is found by early stopping on an inner
            split of each CV fold, and the final refit uses their median.
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    estimator_class: ClassVar[str]
    requirements: ClassVar[tuple[str, ...]] = ()
    early_stopping: ClassVar[bool] = False

    @abc.abstractmethod
    def suggest_params(self, trial: Any, positive_weight: float) -> dict[str, Any]:
        """Sample one configuration of the search space.

        Args:
            trial: an Optuna trial (or ``FixedTrial`` to rebuild a known configuration).
            positive_weight: negatives / positives in the training rows (the re-weighting
                option).
        """

    @abc.abstractmethod
    def make_estimator(
        self,
        params: dict[str, Any],
        threads: int = 1,
        seed: int = 0,
        n_estimators: int | None = None,
        early_stopping_rounds: int | None = None,
    ) -> Any:
        """An unfitted estimator with the given (sampled) parameters.

        Args:
            n_estimators: boosting rounds (upper bound when early stopping is on).
            early_stopping_rounds: enables early stopping (needs an eval set in :meth:`fit`).
        """

    def fit(
        self,
        estimator: Any,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        early_stopping_rounds: int | None = None,
    ) -> int | None:
        """Fit in place; return the best boosting round when early stopping was used."""
        estimator.fit(X, y)
        return None

    @abc.abstractmethod
    def raw_scorer(self, estimator: Any, calibrated: bool) -> RawScorer:
        """A fast scorer of encoded rows for the request path, reproducing sklearn's arithmetic.

        It returns P(class 1), or with ``calibrated`` the response sklearn's calibrator was
        fitted on (the estimator's ``decision_function`` where it has one). It may set the
        estimator to one thread: the service's workers are the unit of parallelism.
        """

    @abc.abstractmethod
    def shap_explainer(self, estimator: Any, reference: np.ndarray) -> ShapValues:
        """The SHAP explainer of the fitted estimator on encoded rows, with ``reference`` an
        encoded background sample. Its values and base are in log-odds of churn, whatever the
        model's own output (``lib.evaluation.explain.UNITS``; see ``ForestShap``)."""


def suggest_booster_params(trial: Any, positive_weight: float) -> dict[str, Any]:
    """The part of the search space XGBoost and LightGBM share (sampled first, in this order,
    so a seeded study draws the same trials)."""
    reweight = trial.suggest_categorical("reweight_positives", [False, True])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "scale_pos_weight": positive_weight if reweight else 1.0,
    }
