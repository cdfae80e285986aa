"""ROC-AUC on the rows whose realised label has arrived, for drift reports and model health.

Labels arrive later than features, often for part of a month only, so every ROC-AUC here is
computed on the rows that carry both a label and a score; the others are ignored, not
counted as negatives. sklearn rather than Evidently's ``RocAuc``: one Evidently report has a
single current dataset that must keep every row for the drift part, its classification
metrics fail on null targets ("mix of binary and continuous targets"), and ``snapshot.dict()``
carries only the current value, not the reference one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract


def encode_labels(values: pd.Series, contract: DataContract) -> pd.Series:
    """Realised labels as 0/1: the contract's target labels, or already 0/1 / boolean."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(int)
    return contract.target.encode(values).astype(int)


def labelled_roc_auc(
    labels: pd.Series | None, scores: pd.Series | np.ndarray, contract: DataContract
) -> tuple[float | None, int]:
    """ROC-AUC of ``scores`` on the rows with a label and a score, and how many rows that is.

    Args:
        labels: Realised labels aligned with ``scores`` (NaN where none has arrived), or None
            when the frame has no label column.
        scores: The model's probability of the positive class.
        contract: Names the target's labels.

    Returns:
        ``(auc, n_labelled)``; the AUC is None when no row, or only one class, is labelled.
    """
    from churn_assets.lib.evaluation.scores import roc_auc

    if labels is None:
        return None, 0
    frame = pd.DataFrame({"label": labels.to_numpy(), "score": np.asarray(scores)}).dropna()
    if frame.empty:
        return None, 0
    y = encode_labels(frame["label"], contract)
    if y.nunique() < 2:
        return None, len(frame)
    return roc_auc(y.to_numpy(), frame["score"].to_numpy(dtype=float)), len(frame)


def performance(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    score_column: str,
    label_column: str,
    contract: DataContract,
) -> dict[str, float | int | None] | None:
    """ROC-AUC of the score on each frame's labelled rows, and the drop (reference - current).

    Returns:
        None when no current row is labelled yet, else ``current_roc_auc``,
        ``reference_roc_auc``, ``roc_auc_drop`` (None when either AUC is) and the labelled row
        counts.
    """
    current_auc, current_labelled = labelled_roc_auc(
        current.get(label_column), current[score_column], contract
    )
    if current_labelled == 0:
        return None
    reference_auc, reference_labelled = labelled_roc_auc(
        reference.get(label_column), reference[score_column], contract
    )
    drop = (
        reference_auc - current_auc
        if reference_auc is not None and current_auc is not None
        else None
    )
    return {
        "current_roc_auc": current_auc,
        "reference_roc_auc": reference_auc,
        "roc_auc_drop": drop,
        "current_labelled_rows": current_labelled,
        "reference_labelled_rows": reference_labelled,
    }
