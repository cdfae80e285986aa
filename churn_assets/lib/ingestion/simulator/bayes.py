"""The Bayes-optimal AUC: the yardstick for a model's test AUC on simulated rows.

The labels are Bernoulli(p) draws, so even the true probability cannot reach AUC 1. The AUC
counts correctly ordered (positive, negative) pairs; a pair ``(i, j)`` ordered ``i`` above
``j`` contributes ``p_i (1 - p_j)`` in expectation and the reverse order ``p_j (1 - p_i)``,
which is smaller exactly when ``p_j < p_i``. Ranking by ``p`` therefore maximises the expected
pair count, and no score computed from the features can beat it on average. The closed form
depends only on the rows (their ``p``), not on one lucky or unlucky label draw, so
``expected_bayes_auc(p) - model_auc`` measures how much signal a model leaves on the table, up
to label noise of order ``1 / sqrt(#positives)``; :func:`realized_bayes_auc` is the ceiling on
the one label draw at hand and carries that noise.
"""

from __future__ import annotations

import numpy as np


def expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """Expected ROC-AUC of ``scores`` when the labels are independent Bernoulli(``p``).

    Closed form over ordered pairs ``i != j`` (ties count 1/2)::

        sum p_i (1 - p_j) ([s_i > s_j] + 0.5 [s_i == s_j]) / sum p_i (1 - p_j)

    computed in O(n log n) by sorting the scores.

    Args:
        scores: Any score, higher meaning more likely positive.
        p: True positive probability of each row.

    Returns:
        The expected AUC (ratio of expectations), NaN if undefined.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    prob = np.asarray(p, dtype=np.float64).ravel()
    if s.shape != prob.shape:
        raise ValueError("scores and p must have the same length")
    if s.size < 2:
        return float("nan")
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    p_sorted = prob[order]
    q_sorted = 1.0 - p_sorted
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    q_group = np.add.reduceat(q_sorted, starts)
    q_below = np.cumsum(q_group) - q_group  # negatives' weight in strictly lower groups
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, s.size]))
    # Within a tie group every other member counts 1/2; exclude the row itself.
    numerator = np.sum(p_sorted * (q_below[group] + 0.5 * (q_group[group] - q_sorted)))
    denominator = prob.sum() * (1.0 - prob).sum() - np.sum(prob * (1.0 - prob))
    if denominator <= 0:
        return float("nan")
    return float(numerator / denominator)


def expected_bayes_auc(p: np.ndarray) -> float:
    """Expected ROC-AUC of the true probability used as the score.

    This is the Bayes-optimal ceiling for any model's test AUC on the same rows: see the
    module docstring.

    Args:
        p: True positive probability of each row.

    Returns:
        ``expected_auc(p, p)``.
    """
    return expected_auc(p, p)


def realized_bayes_auc(p: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of the true probability against one drawn set of labels.

    Args:
        p: True positive probability of each row.
        y: Labels: booleans, 0/1 or ``"Yes"``/``"No"``.

    Returns:
        ``sklearn.metrics.roc_auc_score(y, p)``.
    """
    from sklearn.metrics import roc_auc_score  # lazy: sklearn is slow to import

    labels = np.asarray(y)
    if labels.dtype.kind in "OUS":
        labels = labels == "Yes"
    return float(roc_auc_score(labels.astype(np.int64), np.asarray(p, dtype=np.float64)))
