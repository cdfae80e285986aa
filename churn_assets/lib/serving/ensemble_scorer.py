"""A stacked ensemble (``lib/training/ensemble.py``) compiled for the request path.

One :class:`~churn_assets.lib.serving.scorer.CompiledScorer` per member pipeline (each scores
its member's P(churn) as the pipeline does, to ~1e-15), then the ensemble's own
:meth:`~churn_assets.lib.training.ensemble.StackedEnsemble.blend` of their logits (one
definition: the same code scores in training and in serving), then the calibrator fitted
around the ensemble, with the compiled scorer's calibration arithmetic. A parity test holds
it to the ensemble's ``predict_proba`` within 1e-9 on the batch and the single-record paths.

A request costs each member's encoding and scoring: about members x one family's time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract


@dataclass
class EnsembleScorer:
    """Scores rows of contract fields with every member's compiled scorer and the blend; the
    interface the predictor, batch scoring and the service use of a ``CompiledScorer``.

    Build with :meth:`compile`.
    """

    family: str
    members: list[Any]  # CompiledScorer, one per member, in the blender's order
    ensemble: Any = field(repr=False)  # the StackedEnsemble (its blend)
    calibrator: Any | None = None
    source: Any = field(default=None, repr=False)  # the compiled model (for SHAP, etc.)

    @classmethod
    def compile(cls, model: Any, contract: DataContract, family: str) -> EnsembleScorer:
        """Compile a ``StackedEnsemble`` or a calibrated wrapper of one.

        Raises:
            ScorerError: for a member the compiled scorer does not know.
        """
        from churn_assets.lib.evaluation.explain import unwrap_pipeline
        from churn_assets.lib.serving.scorer import (
            CompiledScorer,
            _calibrator_of,  # the one rule of which calibrators the platform fits
        )

        ensemble = unwrap_pipeline(model)
        members = [
            CompiledScorer.compile(pipeline, contract, name) for name, pipeline in ensemble.members
        ]
        return cls(
            family=family,
            members=members,
            ensemble=ensemble,
            calibrator=_calibrator_of(model),
            source=model,
        )

    @property
    def input_columns(self) -> list[str]:
        return self.members[0].input_columns

    @property
    def null_fills(self) -> dict[str, Any]:
        """What the members fill a null with (one preprocessing: the same for all)."""
        return self.members[0].null_fills

    def _finish(self, member_p: list[np.ndarray]) -> np.ndarray:
        from churn_assets.lib.serving.scorer import CompiledScorer
        from churn_assets.lib.training.ensemble import member_logit

        raw = self.ensemble.blend(np.column_stack([member_logit(p) for p in member_p]))
        if self.calibrator is None:
            return raw
        # The compiled scorer's calibrator arithmetic (it reads only ``self.calibrator``).
        p = CompiledScorer._calibrate(self, raw)  # type: ignore[arg-type]
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0  # as sklearn's calibrated predict_proba does
        return p

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(churn) for column arrays of raw fields."""
        return self._finish([m.score_columns(columns) for m in self.members])

    def predict_proba(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """P(churn) for records (dicts of raw contract fields) or a frame of them."""
        if isinstance(records, pd.DataFrame):
            columns = self.members[0].columns_from_frame(records)
            return self.score_columns(columns)
        if len(records) == 1:
            return self._finish([m.predict_proba(records) for m in self.members])
        return self.score_columns(self.members[0].columns_from_records(records))
