"""Deterministic simulator of monthly Telco customer snapshots with a known churn truth.

The simulator produces monthly snapshots of a telecom customer base in the IBM Telco churn
schema (the built-in contract ``churn_assets/contracts/telco.yaml``), together with the
ground-truth churn probability of every row. Everything is driven by one
``numpy.random.default_rng(seed)``, so the same :class:`SimulatorConfig` always yields
identical frames.

This package's names below are its API (``simulate(SimulatorConfig(...))`` and what goes with
it); the modules hold one subject each:

* :mod:`.config`: what a simulation is asked for and what it returns;
* :mod:`.schema`: the columns written and the integer codes computed with;
* :mod:`.ground_truth`: the price list and the churn model (its formula is documented there);
* :mod:`.bayes`: the Bayes-optimal AUC, the yardstick for a model trained on simulated rows;
* :mod:`.population`: month-0 customers and the newcomers who replace churners;
* :mod:`.dynamics`: the month-to-month loop and drift;
* :mod:`.dirty`: realistic defects for the quarantine path;
* :mod:`.files`: monthly files, like a landing folder.
"""

from churn_assets.lib.ingestion.simulator.bayes import (
    expected_auc,
    expected_bayes_auc,
    realized_bayes_auc,
)
from churn_assets.lib.ingestion.simulator.config import DriftSpec, SimulationResult, SimulatorConfig
from churn_assets.lib.ingestion.simulator.dynamics import simulate
from churn_assets.lib.ingestion.simulator.files import write_monthly_files
from churn_assets.lib.ingestion.simulator.ground_truth import churn_probability, list_price
from churn_assets.lib.ingestion.simulator.schema import COLUMNS

__all__ = [
    "COLUMNS",
    "DriftSpec",
    "SimulationResult",
    "SimulatorConfig",
    "churn_probability",
    "expected_auc",
    "expected_bayes_auc",
    "list_price",
    "realized_bayes_auc",
    "simulate",
    "write_monthly_files",
]
