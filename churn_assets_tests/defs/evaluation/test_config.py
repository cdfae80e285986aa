"""The launchpad shows the evaluation policies' fields with their defaults (the Dagster config
classes are built from the lib policies, so there is no second copy of a number)."""

from __future__ import annotations

import dagster as dg
import pytest
from pydantic import BaseModel

from churn_assets.definitions import defs as load_defs
from churn_assets.lib.evaluation.policy import EvaluationPolicy, ExplanationPolicy, FairnessPolicy


def launchpad_fields(asset: str) -> dict[str, dg.Field]:
    """The config fields the launchpad offers for one asset of the global asset job."""
    job = load_defs().resolve_implicit_global_asset_job_def()
    ops = job.run_config_schema.config_type.fields["ops"].config_type
    return dict(ops.fields[asset].config_type.fields["config"].config_type.fields)


@pytest.mark.parametrize(
    ("asset", "policy"),
    [
        ("evaluation_report", EvaluationPolicy),
        ("fairness_report", FairnessPolicy),
        ("explanations", ExplanationPolicy),
    ],
)
def test_launchpad_shows_the_policy(asset: str, policy: type[BaseModel]) -> None:
    fields = launchpad_fields(asset)
    assert set(fields) == set(policy.model_fields)
    for name, spec in policy.model_fields.items():
        assert not fields[name].is_required
        assert fields[name].default_value == spec.default, name
        assert fields[name].description == spec.description, name


def test_configured_limits_reach_the_library() -> None:
    from churn_assets.defs.evaluation.assets import FairnessConfig

    config = FairnessConfig(max_equalized_odds_difference=0.3)
    assert isinstance(config, FairnessPolicy)
    assert config.max_equalized_odds_difference == 0.3
    assert config.max_demographic_parity_difference == 0.15
