"""Per-step pod settings: the ``dagster-k8s/config`` op tags of the platform's assets are what
k8s_job_executor reads (dagster-k8s parses them here), their resources are valid Kubernetes
resources, and each fits in the limits a step pod is given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from churn_assets_tests.deploy.files import k8s_validator

TAG = "dagster-k8s/config"


def _quantity(value: str) -> float:
    """A Kubernetes quantity in base units (cores, bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6}
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


@pytest.fixture(scope="module")
def tagged_steps() -> dict[str, Any]:
    """op name -> its dagster-k8s/config tag, for every executable asset that has one."""
    from churn_assets.definitions import defs

    repository = defs().get_repository_def()
    steps = {}
    for assets_def in set(repository.assets_defs_by_key.values()):
        if assets_def.is_executable and TAG in assets_def.op.tags:
            steps[assets_def.op.name] = json.loads(assets_def.op.tags[TAG])
    return steps


def test_the_tuning_steps_ask_for_a_big_pod(tagged_steps: dict[str, Any]) -> None:
    tuning = {name for name in tagged_steps if name.startswith("tuned_")}
    assert tuning >= {"tuned_logreg", "tuned_random_forest", "tuned_xgboost", "tuned_lightgbm"}
    for name in tuning:
        requests = tagged_steps[name]["container_config"]["resources"]["requests"]
        assert _quantity(requests["cpu"]) >= 2, name
        assert _quantity(requests["memory"]) >= 4 * 2**30, name


def test_every_tag_is_what_k8s_job_executor_reads(tagged_steps: dict[str, Any]) -> None:
    from dagster_k8s.job import get_user_defined_k8s_config

    validator = k8s_validator("io.k8s.api.core.v1.ResourceRequirements")
    for name, config in tagged_steps.items():
        parsed = get_user_defined_k8s_config({TAG: json.dumps(config)})
        resources = parsed.container_config.get("resources")
        assert resources, name
        assert list(validator.iter_errors(resources)) == [], name
        for kind in ("cpu", "memory"):
            request = resources.get("requests", {}).get(kind)
            limit = resources.get("limits", {}).get(kind)
            if request and limit:
                assert _quantity(request) <= _quantity(limit), (name, kind)


def test_a_malformed_tag_is_refused() -> None:
    """The parse above can fail: dagster-k8s rejects a key it does not know."""
    from dagster_k8s.job import get_user_defined_k8s_config

    with pytest.raises(Exception, match="container_cfg"):
        get_user_defined_k8s_config({TAG: json.dumps({"container_cfg": {}})})
