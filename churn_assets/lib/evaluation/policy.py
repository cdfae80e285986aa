"""The evaluation policies, declared once: the Dagster config classes of the evaluation assets
are built from them (``class FairnessConfig(dg.Config, FairnessPolicy)``) and the libraries
take them as arguments, so a default lives here and nowhere else.

Import-light on purpose (pydantic only): the definitions import it when they load.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# Shared by every bootstrap of the platform (metric intervals, the gate's paired test).
BOOTSTRAP_RESAMPLES = 500
SEED = 42


class EvaluationPolicy(BaseModel):
    """Bootstrap settings of the evaluation report's 95% intervals."""

    n_bootstrap: int = Field(BOOTSTRAP_RESAMPLES, description="bootstrap resamples of the rows")
    seed: int = Field(SEED, description="seed of the row resampling")


class FairnessPolicy(BaseModel):
    """Limits on group disparities of the offer decision (absolute differences in rates).

    Policy, not physics: on the simulator (where seniors really churn more) the demo champion
    shows DP 0.08 / EO 0.14 for SeniorCitizen; set these to what your business and regulator
    accept. The promotion gate reads the verdicts of ``fairness_report``, so these are the
    gate's fairness limits too.
    """

    max_demographic_parity_difference: float = Field(
        0.15, description="largest gap in offer rates between groups of an attribute"
    )
    max_equalized_odds_difference: float = Field(
        0.20, description="largest gap in true or false positive rates between groups"
    )


class ExplanationPolicy(BaseModel):
    """How many rows SHAP explains (a bounded sample keeps the cost flat as data grows)."""

    sample_rows: int = Field(500, description="test rows explained")
    background_rows: int = Field(200, description="training rows SHAP takes as the reference")
    seed: int = Field(SEED, description="seed of both samples")
