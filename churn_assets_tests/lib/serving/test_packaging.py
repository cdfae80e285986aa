"""Packaging refuses a traffic split it cannot serve before touching the registry, and packages
a challenger beside the champion only when the gate passed it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.bundle import read_meta
from churn_assets.lib.serving.packaging import PackagingError, export_bundle, package_champion
from churn_assets.lib.serving.policy import BentoPolicy
from churn_assets_tests.lib.registry.registry_store import (
    PASSED,
    REJECTED,
    background,
    copy_of,
    register,
    template,
)


@pytest.mark.parametrize("split", [{"shadow_share": 1.5}, {"ab_share": -0.1}])
def test_shares_outside_zero_one_are_refused(
    split: dict[str, float], churn_home: Path, contract: DataContract
) -> None:
    with pytest.raises(PackagingError, match=r"must be in \[0, 1\]"):
        package_champion(churn_home, "churn-model", contract, pd.DataFrame(), BentoPolicy(**split))


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Path]:
    import mlflow

    yield copy_of(template(tmp_path_factory), tmp_path / "home")
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.mark.parametrize(
    ("gate", "why"),
    [(REJECTED, "gate outcome rejected"), ({}, "never judged by the gate")],
)
def test_a_rejected_or_unjudged_challenger_never_answers_customers(
    store: Path, contract: DataContract, tmp_path: Path, gate: dict, why: str
) -> None:
    from mlflow import MlflowClient

    champion_uri = MlflowClient().get_model_version("churn-model", "1").source
    version = register(champion_uri, gate)  # v3 takes @challenger
    folder = tmp_path / "bundle"
    meta, note = export_bundle(
        folder, "churn-model", contract, background(contract), BentoPolicy(ab_share=0.5)
    )
    assert meta.shadow is None and meta.bento_version == "v1"
    assert (meta.ab_share, meta.shadow_share) == (0.0, 0.0)  # what the service reads
    assert read_meta(folder).ab_share == 0.0
    assert f"challenger v{version} not packaged" in note and why in note
    assert not (folder / "shadow").exists()


def test_a_passed_challenger_is_packaged_with_its_share(
    store: Path, contract: DataContract, tmp_path: Path
) -> None:
    rows = background(contract)
    rows[contract.id_column] = [f"CUSTOMER-{i:04d}-ID" for i in range(len(rows))]
    meta, note = export_bundle(
        tmp_path / "bundle", "churn-model", contract, rows, BentoPolicy(ab_share=0.5)
    )
    assert (meta.shadow.version, meta.ab_share, meta.bento_version) == ("2", 0.5, "v1-shadow-v2")
    assert "challenger v2 packaged" in note
    assert PASSED["gate_outcome"] in note
    # What every serving host receives holds no customer id (docs/privacy.md).
    ids = set(rows[contract.id_column])
    shipped = b"".join(p.read_bytes() for p in (tmp_path / "bundle").rglob("*") if p.is_file())
    assert ids and not [i for i in ids if i.encode() in shipped]
