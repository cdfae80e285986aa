"""Rare categories of a high-cardinality field share one ``__other__`` column.

A categorical field with thousands of levels (a city, a device model, a free-text plan name)
would one-hot encode into thousands of mostly empty columns. :class:`CategoryCapper` sits in
the categorical branch of the preprocessing pipeline, between imputation and one-hot
encoding, so which categories are kept is learned on the training rows of each fit (inside
every CV fold: no leakage). Kept are at most ``max_categories - 1`` of the most frequent
categories seen at least ``min_count`` times; everything else, including a category first
seen at serving time, becomes :data:`OTHER`. A field that needs no capping passes through
untouched, so its encoding is what it was without the capper (unknown categories then encode
as all zeros, as before).

Why not ``OneHotEncoder(max_categories=..., handle_unknown="infrequent_if_exist")``: its
``categories_`` keeps every level while its output has one column for all infrequent ones,
and the explanations and the compiled scorer map output columns to ``categories_``; a capper
upstream keeps ``categories_`` equal to the output columns.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

OTHER = "__other__"
MAX_CATEGORIES = 50
MIN_COUNT = 5


class CategoryCapper(TransformerMixin, BaseEstimator):
    """Maps each column's rare or unseen categories to :data:`OTHER` (fitted per column).

    Args:
        max_categories: most output columns one field may take (kept categories + other).
        min_count: a category seen fewer times in the training rows is rare.
    """

    def __init__(self, max_categories: int = MAX_CATEGORIES, min_count: int = MIN_COUNT):
        self.max_categories = max_categories
        self.min_count = min_count

    def fit(self, X: np.ndarray, y: object = None) -> CategoryCapper:
        """Choose the kept categories of each column (``None``: the column is not capped)."""
        X = np.asarray(X, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.kept_: list[frozenset | None] = []
        for j in range(X.shape[1]):
            counts = Counter(X[:, j].tolist())
            if len(counts) <= self.max_categories and min(counts.values()) >= self.min_count:
                self.kept_.append(None)
                continue
            # Most frequent first; ties by text so the choice does not depend on row order.
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
            top = ranked[: max(self.max_categories - 1, 0)]
            self.kept_.append(frozenset(v for v, n in top if n >= self.min_count))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` with the categories outside each capped column's kept set replaced."""
        X = np.asarray(X, dtype=object)
        out = X.copy()
        for j, kept in enumerate(self.kept_):
            if kept is not None:
                out[:, j] = [v if v in kept else OTHER for v in X[:, j].tolist()]
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The input names, unchanged (one output column per input column)."""
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray(input_features, dtype=object)
