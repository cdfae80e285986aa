"""Logistic regression (l2 / l1 / elastic net), served as one dot product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn_assets.lib.training.families.base import FamilySpec, RawScorer

if TYPE_CHECKING:
    import numpy as np

    from churn_assets.lib.evaluation.explain import ShapValues


@dataclass(frozen=True)
class _LinearScores:
    coef: np.ndarray
    intercept: float
    calibrated: bool

    def __call__(self, X: np.ndarray) -> np.ndarray:
        decision = X @ self.coef + self.intercept
        if self.calibrated:  # sklearn calibrates the decision function
            return decision
        from scipy.special import expit

        return expit(decision)


class LogReg(FamilySpec):
    name = "logreg"
    kinds = ("sklearn",)
    estimator_class = "LogisticRegression"

    def suggest_params(self, trial: Any, positive_weight: float) -> dict[str, Any]:
        kind = trial.suggest_categorical("regularization", ["l2", "l1", "elasticnet"])
        return {
            "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
            "l1_ratio": {"l2": 0.0, "l1": 1.0}.get(kind)
            if kind != "elasticnet"
            else trial.suggest_float("l1_ratio", 0.05, 0.95),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }

    def make_estimator(
        self,
        params: dict[str, Any],
        threads: int = 1,
        seed: int = 0,
        n_estimators: int | None = None,
        early_stopping_rounds: int | None = None,
    ) -> Any:
        from sklearn.linear_model import LogisticRegression

        l1_ratio = float(params["l1_ratio"])
        return LogisticRegression(
            C=params["C"],
            l1_ratio=l1_ratio,
            # lbfgs for pure l2, liblinear for pure l1 (much faster than saga on data of this
            # size), saga for the elastic net, the one solver that handles it.
            solver={0.0: "lbfgs", 1.0: "liblinear"}.get(l1_ratio, "saga"),
            class_weight=params["class_weight"],
            # saga converges slowly to sklearn's default 1e-4. Measured on Telco: tol=1e-3
            # moves validation AUC by < 1e-4 and cuts the fit time 1.5-7x.
            tol=1e-3,
            max_iter=3000,
            random_state=seed,
        )

    def raw_scorer(self, estimator: Any, calibrated: bool) -> RawScorer:
        import numpy as np

        from churn_assets.lib.serving.scorer import ScorerError

        if estimator.coef_.shape[0] != 1:
            raise ScorerError("only binary logistic regression is supported")
        coef = np.ascontiguousarray(estimator.coef_[0], dtype=np.float64)
        return _LinearScores(coef, float(estimator.intercept_[0]), calibrated)

    def shap_explainer(self, estimator: Any, reference: np.ndarray) -> ShapValues:
        from churn_assets.lib.evaluation.explain import LinearShap

        return LinearShap(estimator, reference)


SPEC = LogReg()
