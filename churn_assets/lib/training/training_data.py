"""What training data must satisfy before a search starts, and the class balance it has."""

from __future__ import annotations

import numpy as np
import pandas as pd


class TrainingDataError(ValueError):
    """The training data cannot support model fitting; the message says why and what to do."""


def check_training_data(X: pd.DataFrame, y: pd.Series | np.ndarray, folds: int) -> None:
    """Refuse degenerate training data with a message a person can act on.

    Raises:
        TrainingDataError: no rows; labels other than 0/1; a single class; fewer rows of a
            class than cross-validation folds; a feature that is null in every row; a
            feature with a single value.
    """
    y = pd.Series(np.asarray(y))
    if len(X) == 0:
        raise TrainingDataError("the training set is empty")
    if len(X) != len(y):
        raise TrainingDataError(f"{len(X)} feature rows but {len(y)} labels")
    labels = set(pd.unique(y))
    if not labels <= {0, 1}:
        raise TrainingDataError(
            f"the target must be encoded 0/1, found {sorted(map(str, labels))}: check the "
            "contract's target labels (positive/negative)"
        )
    if len(labels) < 2:
        only = "positive" if labels == {1} else "negative"
        raise TrainingDataError(
            f"the training target has a single class (all {only}); a classifier needs both"
        )
    counts = y.value_counts()
    if counts.min() < folds:
        raise TrainingDataError(
            f"{counts.min()} training rows of the minority class but {folds} cross-validation "
            "folds: every fold needs both classes (use fewer folds or more data)"
        )
    if len(X) < 2 * folds:
        raise TrainingDataError(f"{len(X)} training rows are too few for {folds}-fold CV")
    all_null = [c for c in X.columns if X[c].isna().all()]
    if all_null:
        raise TrainingDataError(
            f"feature column(s) {all_null} are null in every training row; fix the source or "
            "list them under `exclude_from_features` in the contract"
        )
    constant = [c for c in X.columns if X[c].nunique(dropna=False) <= 1]
    if constant:
        raise TrainingDataError(
            f"feature column(s) {constant} hold a single value in every training row, so "
            "they cannot inform a model; list them under `exclude_from_features` in the "
            "contract if that is expected"
        )


def positive_weight(y: np.ndarray) -> float:
    """Negatives / positives: the weight of the search spaces' re-weighting option."""
    return float((y == 0).sum() / max((y == 1).sum(), 1))
