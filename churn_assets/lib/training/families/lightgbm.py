"""LightGBM (leaf-wise trees, early stopping on AUC), served by its booster on one thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn_assets.lib.training.families.base import FamilySpec, RawScorer, suggest_booster_params

if TYPE_CHECKING:
    import numpy as np

    from churn_assets.lib.evaluation.explain import ShapValues


@dataclass(frozen=True)
class _BoosterScores:
    booster: Any
    raw: bool

    def __call__(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        scores = self.booster.predict(X, raw_score=self.raw, num_threads=1)
        return np.asarray(scores, dtype=np.float64)


class LightGBM(FamilySpec):
    name = "lightgbm"
    kinds = ("lightgbm",)
    estimator_class = "LGBMClassifier"
    requirements = ("lightgbm",)
    early_stopping = True

    def suggest_params(self, trial: Any, positive_weight: float) -> dict[str, Any]:
        return {
            **suggest_booster_params(trial, positive_weight),
            "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        }

    def make_estimator(
        self,
        params: dict[str, Any],
        threads: int = 1,
        seed: int = 0,
        n_estimators: int | None = None,
        early_stopping_rounds: int | None = None,
    ) -> Any:
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            **params,
            n_estimators=n_estimators or 1000,
            subsample_freq=1,
            n_jobs=threads,
            random_state=seed,
            verbose=-1,
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
        import lightgbm

        estimator.fit(
            X,
            y,
            eval_X=(eval_set[0],),
            eval_y=(eval_set[1],),
            eval_metric="auc",
            callbacks=[lightgbm.early_stopping(early_stopping_rounds or 30, verbose=False)],
        )
        return int(estimator.best_iteration_ or estimator.n_estimators)

    def raw_scorer(self, estimator: Any, calibrated: bool) -> RawScorer:
        # With a calibrator, sklearn feeds it the estimator's decision_function, which for
        # LightGBM is the raw (log-odds) score.
        return _BoosterScores(estimator.booster_, raw=calibrated)

    def shap_explainer(self, estimator: Any, reference: np.ndarray) -> ShapValues:
        from churn_assets.lib.evaluation.explain import TreeShap

        return TreeShap(estimator)


SPEC = LightGBM()
