"""The features asset warns about identifier-like feature columns (log and metadata)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from churn_assets.defs.features.assets import customer_features
from churn_assets.defs.resources import ChurnPlatform
from churn_assets_tests.lib.features.test_identifiers import CONTRACT, frame


def test_identifier_like_columns_are_warned_about(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ids.yaml"
    path.write_text(CONTRACT)
    platform = ChurnPlatform(home=str(tmp_path / "home"), contract_path=str(path))
    rows = frame(500, 2).assign(gone="N")
    out = customer_features(dg.build_asset_context(), platform=platform, validated_customers=rows)
    listed = out.metadata["identifier_like_columns"].value
    assert "'email' looks like an identifier: exclude it with `exclude_from_features`" in listed
    assert "'account_no'" in listed and "'plan'" not in listed
    # Dagster's logger writes the warning to stderr (its own handler, not propagated).
    assert "WARNING - system - 'email' looks like an identifier" in capfd.readouterr().err
