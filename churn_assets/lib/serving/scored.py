"""What the predictor answers: :class:`Scored` (one row) and :class:`ScoredBatch` (a request's
rows as NumPy columns, which the metrics, the prediction log and ``/bulk/predict``'s answer
read whole; iterating it gives the rows as :class:`Scored`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churn_assets.lib.serving.bundle import ModelSlot
from churn_assets.lib.serving.risk_tiers import RiskTier

TIERS = np.array(["low", "medium", "high"], dtype=object)


@dataclass(slots=True)
class Scored:
    """One scored row: what the client gets, plus the shadow's score for the log."""

    customer_id: str | None
    probability: float
    label: bool
    tier: RiskTier
    slot: ModelSlot
    shadow_probability: float | None = None
    shadow_label: bool | None = None


class ScoredBatch(Sequence[Scored]):
    """A request's scored rows as columns.

    Args:
        customer_ids: the rows' ids as sent (``None`` where absent).
        probability: P(churn) of the model that answered each row (float64).
        label: ``probability >= `` that model's threshold.
        tier: ``low`` / ``medium`` / ``high`` (object array of ``str``).
        champion / shadow: the bundle's slots.
        by_shadow: rows the challenger answered (its A/B share); ``None``: the champion
            answered every row.
        shadow_probability / shadow_label: the score and label of the model that did *not*
            answer each row, where the challenger ran (``None`` otherwise).
    """

    __slots__ = (
        "by_shadow",
        "champion",
        "customer_ids",
        "label",
        "probability",
        "shadow",
        "shadow_label",
        "shadow_probability",
        "tier",
    )

    def __init__(
        self,
        customer_ids: list[Any],
        probability: np.ndarray,
        label: np.ndarray,
        tier: np.ndarray,
        champion: ModelSlot,
        shadow: ModelSlot | None = None,
        by_shadow: np.ndarray | None = None,
        shadow_probability: np.ndarray | None = None,
        shadow_label: np.ndarray | None = None,
    ):
        n = len(customer_ids)
        for name, column in (
            ("probability", probability),
            ("label", label),
            ("tier", tier),
            ("by_shadow", by_shadow),
            ("shadow_probability", shadow_probability),
            ("shadow_label", shadow_label),
        ):
            if column is not None and len(column) != n:
                raise ValueError(f"{name} has {len(column)} rows, the batch {n}")
        if (by_shadow is not None or shadow_probability is not None) and shadow is None:
            raise ValueError("shadow scores need the shadow slot")
        self.customer_ids = customer_ids
        self.probability = probability
        self.label = label
        self.tier = tier
        self.champion = champion
        self.shadow = shadow
        self.by_shadow = by_shadow
        self.shadow_probability = shadow_probability
        self.shadow_label = shadow_label

    def __len__(self) -> int:
        return len(self.customer_ids)

    def __getitem__(self, i: int) -> Scored:  # type: ignore[override]
        return self._row(i, self.slot_of(i))

    def __iter__(self) -> Iterator[Scored]:
        # Python values once per column: per-row NumPy scalars cost more than the rows.
        probability, label, tier = (
            self.probability.tolist(),
            self.label.tolist(),
            self.tier.tolist(),
        )
        by_shadow = self.by_shadow.tolist() if self.by_shadow is not None else None
        other = self.shadow_probability
        other_p = other.tolist() if other is not None else None
        other_label = self.shadow_label.tolist() if other is not None else None
        champion, shadow = self.champion, self.shadow
        for i, customer in enumerate(self.customer_ids):
            yield Scored(
                customer,
                probability[i],
                label[i],
                tier[i],
                shadow if by_shadow is not None and by_shadow[i] else champion,
                None if other_p is None else other_p[i],
                None if other_label is None else other_label[i],
            )

    def slot_of(self, i: int) -> ModelSlot:
        if self.by_shadow is not None and self.by_shadow[i]:
            return self.shadow  # type: ignore[return-value]
        return self.champion

    def _row(self, i: int, slot: ModelSlot) -> Scored:
        other = self.shadow_probability
        return Scored(
            self.customer_ids[i],
            float(self.probability[i]),
            bool(self.label[i]),
            self.tier[i],
            slot,
            None if other is None else float(other[i]),
            None if other is None else bool(self.shadow_label[i]),  # type: ignore[index]
        )

    def versions(self) -> np.ndarray:
        """The answering model's version per row (object array of ``str``)."""
        if self.by_shadow is None:
            return np.full(len(self), self.champion.version, dtype=object)
        shadow = self.shadow.version  # type: ignore[union-attr]
        return np.where(self.by_shadow, shadow, self.champion.version).astype(object)

    def other_versions(self) -> np.ndarray | None:
        """The version of the model that did not answer, per row (``None`` if it did not
        run): the prediction log's ``shadow_version``."""
        if self.shadow_probability is None:
            return None
        shadow = self.shadow.version  # type: ignore[union-attr]
        if self.by_shadow is None:
            return np.full(len(self), shadow, dtype=object)
        return np.where(self.by_shadow, self.champion.version, shadow).astype(object)

    def per_version(self) -> Iterator[tuple[str, np.ndarray]]:
        """(version, boolean mask of its rows) for each model that answered a row."""
        if self.by_shadow is None or not self.by_shadow.any():
            yield self.champion.version, np.ones(len(self), dtype=bool)
            return
        yield self.shadow.version, self.by_shadow  # type: ignore[union-attr]
        if not self.by_shadow.all():
            yield self.champion.version, ~self.by_shadow
