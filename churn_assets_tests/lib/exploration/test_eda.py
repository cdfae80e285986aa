"""The EDA: numbers that match the data, and a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.exploration.eda import (
    analyse,
    evidently_definition,
    write_html,
    write_reports,
)
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.plots import figure_png


@pytest.fixture(scope="module")
def validated(contract: DataContract):
    frame = simulate(SimulatorConfig(n_customers=3000, months=2, seed=4)).snapshots
    return validate_frame(frame, contract).valid


def test_eda_numbers(validated, contract: DataContract) -> None:
    result = analyse(validated, contract, sample_rows=4000)
    assert result.rows == len(validated)
    assert result.sampled_rows == 4000
    assert result.positive_rate == pytest.approx((validated["Churn"] == "Yes").mean())
    # The simulator's strongest effect is contract x tenure: both must rank near the top.
    top = list(result.target_association["feature"].head(5))
    assert "Contract" in top and "tenure" in top
    # gender has no effect in the simulator: it must rank in the bottom half.
    ranks = list(result.target_association["feature"])
    assert ranks.index("gender") >= len(ranks) // 2
    month_to_month = result.churn_by_category.query(
        "feature == 'Contract' and value == 'Month-to-month'"
    )["churn_rate"].item()
    two_year = result.churn_by_category.query("feature == 'Contract' and value == 'Two year'")[
        "churn_rate"
    ].item()
    assert month_to_month > 3 * two_year
    assert set(result.figures) == {
        "target_balance",
        "mutual_information",
        "churn_by_category",
        "numeric_by_class",
    }


def test_eda_html_is_self_contained(validated, contract: DataContract, tmp_path: Path) -> None:
    result = analyse(validated, contract, sample_rows=2000)
    pngs = {name: figure_png(fig) for name, fig in result.figures.items()}
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
    page = write_html(result, pngs, tmp_path / "eda.html", "EDA")
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 4
    assert "<th>mutual_information</th>" in text
    assert "Contract" in text


def test_evidently_definition_follows_the_contract(validated, contract: DataContract) -> None:
    definition = evidently_definition(contract, validated.columns)
    assert definition.id_column == "customerID"
    assert definition.timestamp == "snapshot_month"
    assert set(definition.numerical_columns) == set(contract.numeric_features)
    assert "Churn" in definition.categorical_columns


def test_both_reports_are_written_and_linked(
    validated, contract: DataContract, tmp_path: Path
) -> None:
    eda = write_reports(validated.head(1500), contract, tmp_path / "eda")
    assert eda.page == tmp_path / "eda" / "eda.html"
    assert eda.evidently_summary.is_file() and eda.evidently_summary.stat().st_size > 0
    page = eda.page.read_text()
    assert 'href="data_summary.html"' in page
    assert f"<h1>EDA: {contract.name}</h1>" in page
    assert set(eda.pngs) == set(eda.result.figures)
