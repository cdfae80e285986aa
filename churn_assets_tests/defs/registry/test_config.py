"""The launchpad shows the gate's policy with its defaults, plus the operator's fields; the
fairness limits are fairness_report's alone."""

from __future__ import annotations

from churn_assets.lib.registry.policy import GatePolicy
from churn_assets_tests.defs.evaluation.test_config import launchpad_fields


def test_launchpad_shows_the_gate_policy() -> None:
    fields = launchpad_fields("promotion_decision")
    assert set(fields) == {*GatePolicy.model_fields, "mode", "reason", "actor"}
    assert not any(name.startswith("max_") and "difference" in name for name in fields)
    for name, spec in GatePolicy.model_fields.items():
        assert fields[name].default_value == spec.default, name
        assert fields[name].description == spec.description, name
    assert fields["mode"].default_value == "enforce"
