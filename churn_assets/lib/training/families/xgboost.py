"""XGBoost (hist trees, early stopping on AUC), served by ``inplace_predict`` on one thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn_assets.lib.training.families.base import FamilySpec, RawScorer, suggest_booster_params

if TYPE_CHECKING:
    import numpy as np

    from churn_assets.lib.evaluation.explain import ShapValues


@dataclass(frozen=True)
class _BoosterScores:
    estimator: Any

    def __call__(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        # P(class 1) also under calibration: XGBClassifier has no decision_function.
        return np.asarray(self.estimator.get_booster().inplace_predict(X), dtype=np.float64)


class XGBoost(FamilySpec):
    name = "xgboost"
    kinds = ("xgboost",)
    estimator_class = "XGBClassifier"
    requirements = ("xgboost",)
    early_stopping = True

    def suggest_params(self, trial: Any, positive_weight: float) -> dict[str, Any]:
        return {
            **suggest_booster_params(trial, positive_weight),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 50.0, log=True),
            "gamma": trial.suggest_float("gamma", 1e-3, 5.0, log=True),
        }

    def make_estimator(
        self,
        params: dict[str, Any],
        threads: int = 1,
        seed: int = 0,
        n_estimators: int | None = None,
        early_stopping_rounds: int | None = None,
    ) -> Any:
        from xgboost import XGBClassifier

        return XGBClassifier(
            **params,
            n_estimators=n_estimators or 1000,
            tree_method="hist",
            eval_metric="auc",
            early_stopping_rounds=early_stopping_rounds,
            n_jobs=threads,
            random_state=seed,
            verbosity=0,
        )

    def fit(
        self,
        estimator: Any,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        early_stopping_rounds: int | None = None,
    ) -> int | None:
        if eval_set is None:
            return super().fit(estimator, X, y)
        estimator.fit(X, y, eval_set=[eval_set], verbose=False)
        return int(estimator.best_iteration) + 1

    def raw_scorer(self, estimator: Any, calibrated: bool) -> RawScorer:
        # With default threads the p99 of one-row calls explodes (GUIDE section 4).
        estimator.get_booster().set_param({"nthread": 1})
        return _BoosterScores(estimator)

    def shap_explainer(self, estimator: Any, reference: np.ndarray) -> ShapValues:
        from churn_assets.lib.evaluation.explain import TreeShap

        return TreeShap(estimator)


SPEC = XGBoost()
