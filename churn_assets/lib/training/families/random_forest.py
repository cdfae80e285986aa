"""Random forest, served by a vectorised walk over all its trees at once.

sklearn's ``predict_proba`` costs ~22 ms a row for 300 trees (per-call overhead), the walk
~0.2 ms; large batches go to sklearn, which is faster there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn_assets.lib.training.families.base import FamilySpec, RawScorer

if TYPE_CHECKING:
    import numpy as np

    from churn_assets.lib.evaluation.explain import ShapValues

# Above this many rows a forest is scored by sklearn itself: the vectorised walk allocates
# rows x trees arrays per level and loses to sklearn's compiled per-tree loop on big batches.
_FOREST_WALK_MAX_ROWS = 64


@dataclass
class _ForestArrays:
    """All trees of a fitted forest as flat arrays, leaves pointing at themselves."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    positive: np.ndarray  # P(class 1) at each node (used at leaves)
    roots: np.ndarray
    depth: int

    @classmethod
    def from_forest(cls, forest: Any) -> _ForestArrays:
        import numpy as np

        features, thresholds, lefts, rights, values, roots = [], [], [], [], [], []
        offset, depth = 0, 0
        for tree in forest.estimators_:
            t = tree.tree_
            n = t.node_count
            leaf = t.children_left == -1
            node = np.arange(n)
            features.append(np.where(leaf, 0, t.feature))
            thresholds.append(np.where(leaf, np.inf, t.threshold))
            lefts.append(np.where(leaf, node, t.children_left) + offset)
            rights.append(np.where(leaf, node, t.children_right) + offset)
            value = t.value[:, 0, :]
            total = value.sum(axis=1)
            total[total == 0.0] = 1.0
            values.append(value[:, 1] / total)
            roots.append(offset)
            offset += n
            depth = max(depth, int(t.max_depth))
        return cls(
            feature=np.concatenate(features).astype(np.intp),
            threshold=np.concatenate(thresholds),
            left=np.concatenate(lefts).astype(np.intp),
            right=np.concatenate(rights).astype(np.intp),
            positive=np.concatenate(values),
            roots=np.asarray(roots, dtype=np.intp),
            depth=depth,
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        # sklearn's trees compare float32 inputs with float64 thresholds.
        X32 = X.astype(np.float32).astype(np.float64)
        nodes = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            go_left = X32[rows, self.feature[nodes]] <= self.threshold[nodes]
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        return self.positive[nodes].sum(axis=1) / len(self.roots)


@dataclass
class _ForestScores:
    estimator: Any
    forest: _ForestArrays

    def __call__(self, X: np.ndarray) -> np.ndarray:
        # P(class 1) also under calibration: a forest has no decision_function.
        if len(X) <= _FOREST_WALK_MAX_ROWS:
            return self.forest.predict(X)
        return self.estimator.predict_proba(X)[:, 1]


class RandomForest(FamilySpec):
    name = "random_forest"
    kinds = ("sklearn",)
    estimator_class = "RandomForestClassifier"

    def suggest_params(self, trial: Any, positive_weight: float) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 400, step=50),
            "max_depth": trial.suggest_int("max_depth", 3, 20),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 60, log=True),
            "max_features": trial.suggest_float("max_features", 0.1, 0.8),
            # Bootstrap samples smaller than the data: faster trees, often no worse.
            "max_samples": trial.suggest_float("max_samples", 0.3, 1.0),
            "class_weight": trial.suggest_categorical(
                "class_weight", [None, "balanced", "balanced_subsample"]
            ),
        }

    def make_estimator(
        self,
        params: dict[str, Any],
        threads: int = 1,
        seed: int = 0,
        n_estimators: int | None = None,
        early_stopping_rounds: int | None = None,
    ) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**params, n_jobs=threads, random_state=seed)

    def raw_scorer(self, estimator: Any, calibrated: bool) -> RawScorer:
        estimator.set_params(n_jobs=1)
        return _ForestScores(estimator, _ForestArrays.from_forest(estimator))

    def shap_explainer(self, estimator: Any, reference: np.ndarray) -> ShapValues:
        # TreeSHAP of a forest is in probability units; ForestShap puts it in log-odds.
        from churn_assets.lib.evaluation.explain import ForestShap

        return ForestShap(estimator)


SPEC = RandomForest()
