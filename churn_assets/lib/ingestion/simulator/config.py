"""What a simulation is asked for (:class:`SimulatorConfig`, :class:`DriftSpec`) and what it
returns (:class:`SimulationResult`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class DriftSpec:
    """Drift switched on from a given month.

    Attributes:
        start_month: 0-based month index from which the drift applies.
        price_rise: Relative ``MonthlyCharges`` increase for every customer, e.g. 0.15
            (covariate shift; churn reacts through the relative-price term).
        month_to_month_shift: Extra share of the base on month-to-month contracts. At
            ``start_month`` each customer on a longer contract is downgraded with probability
            ``month_to_month_shift / share_not_month_to_month``; newcomers from then on are
            moved to month-to-month with the same probability.
        concept_shift: Strength in [0, 1] passed to
            :func:`~churn_assets.lib.ingestion.simulator.ground_truth.churn_probability`.
    """

    start_month: int
    price_rise: float = 0.0
    month_to_month_shift: float = 0.0
    concept_shift: float = 0.0

    def __post_init__(self) -> None:
        if self.start_month < 0:
            raise ValueError("start_month must be >= 0")
        if self.price_rise <= -1.0:
            raise ValueError("price_rise must be > -1")
        if not 0.0 <= self.month_to_month_shift <= 1.0:
            raise ValueError("month_to_month_shift must be in [0, 1]")
        if not 0.0 <= self.concept_shift <= 1.0:
            raise ValueError("concept_shift must be in [0, 1]")


@dataclass(frozen=True)
class SimulatorConfig:
    """Configuration of :func:`~churn_assets.lib.ingestion.simulator.dynamics.simulate`.

    Attributes:
        n_customers: Active customers in every monthly snapshot.
        months: Number of monthly snapshots.
        seed: Seed of the single ``numpy.random.default_rng`` driving everything.
        start_month: First snapshot month, ``YYYY-MM-DD`` (normalised to the 1st).
        dirty_rate: Share of rows given one realistic defect each.
        drift: Optional drift switched on from ``drift.start_month``.
    """

    n_customers: int = 5000
    months: int = 6
    seed: int = 42
    start_month: str = "2026-01-01"
    dirty_rate: float = 0.0
    drift: DriftSpec | None = None

    def __post_init__(self) -> None:
        if self.n_customers < 2:
            raise ValueError("n_customers must be >= 2")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        if not 0.0 <= self.dirty_rate <= 1.0:
            raise ValueError("dirty_rate must be in [0, 1]")
        pd.Timestamp(self.start_month)  # fail early on an unparsable date


@dataclass
class SimulationResult:
    """Output of :func:`~churn_assets.lib.ingestion.simulator.dynamics.simulate`.

    Attributes:
        snapshots: One row per customer and month, columns
            :data:`~churn_assets.lib.ingestion.simulator.schema.COLUMNS`, RangeIndex.
        truth: Same index and row order: ``customerID`` (the true id, also for dirty rows),
            ``snapshot_month`` and ``churn_probability``.
    """

    snapshots: pd.DataFrame
    truth: pd.DataFrame
