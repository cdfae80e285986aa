"""The contract's blocking checks, invoked directly on small tables."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from churn_assets.defs.ingestion.checks import conforms_to_contract, target_has_both_classes
from churn_assets.defs.resources import ChurnPlatform
from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import MIN_ROWS_PER_CLASS, validate_frame


@pytest.fixture(scope="module")
def validated(contract: DataContract) -> pd.DataFrame:
    frame = simulate(SimulatorConfig(n_customers=400, months=1, seed=2)).snapshots
    return validate_frame(frame, contract).valid


def test_conforms_to_contract_reports_failure_cases(validated: pd.DataFrame) -> None:
    platform = ChurnPlatform()
    assert conforms_to_contract(platform=platform, validated_customers=validated).passed
    broken = validated.assign(tenure=validated["tenure"].where(validated.index != 5, -1))
    result = conforms_to_contract(platform=platform, validated_customers=broken)
    assert not result.passed
    assert result.metadata["value"].value == 1
    assert "tenure" in result.metadata["failure_cases"].value
    # Values of identifier and sensitive columns are not quoted into the event log.
    private = validated.astype({"gender": object}).copy()
    private.loc[3, "gender"] = "Alien"
    private.loc[4, "customerID"] = private.loc[5, "customerID"]
    cases = conforms_to_contract(platform=platform, validated_customers=private)
    text = cases.metadata["failure_cases"].value
    assert "Alien" not in text and "(withheld: sensitive)" in text
    assert private.loc[5, "customerID"] not in text and "h:" in text


def test_target_needs_enough_rows_of_each_label(validated: pd.DataFrame) -> None:
    platform = ChurnPlatform()
    assert target_has_both_classes(platform=platform, validated_customers=validated).passed
    churners = validated.index[validated["Churn"] == "Yes"]
    few = validated.drop(index=churners[MIN_ROWS_PER_CLASS - 1 :])
    result = target_has_both_classes(platform=platform, validated_customers=few)
    assert not result.passed
    assert result.metadata["value"].value == MIN_ROWS_PER_CLASS - 1
    assert result.metadata["threshold"].value == MIN_ROWS_PER_CLASS


def _folder(tmp_path, months: int, bad: dict[str, str]):
    from churn_assets.lib.ingestion.simulator import write_monthly_files

    folder = tmp_path / "landing"
    write_monthly_files(simulate(SimulatorConfig(n_customers=200, months=months, seed=3)), folder)
    for name, text in bad.items():
        (folder / name).write_text(text)
    return folder


def _ingest(folder, monkeypatch: pytest.MonkeyPatch) -> dg.ExecuteInProcessResult:
    from churn_assets.defs.ingestion.assets import raw_customers, validate_customers
    from churn_assets.defs.resources import platform_resources

    monkeypatch.setenv("CHURN_DATA_URI", str(folder))
    return dg.materialize(
        [raw_customers, validate_customers],
        resources=platform_resources(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_an_unreadable_file_fails_the_blocking_rejected_share_check(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monthly file no line of which can be read is quarantined as one rejection with its
    reason and counted by the blocking check (one file of five is 20 %, above 5 %); a
    repeated header column in another file does not crash the folder read."""
    folder = _folder(
        tmp_path,
        months=3,
        bad={
            "customers_2026-04.csv": "",
            "customers_2026-05.csv": "customerID,tenure,tenure\n1,2,3\n",
        },
    )
    result = _ingest(folder, monkeypatch)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "rejected_share_within_limit" and not check.passed
    meta = {k: v.value for k, v in check.metadata.items()}
    assert (meta["files_rejected"], meta["files_received"], meta["value"]) == (2, 5, 0.4)
    assert "2 of 5 file(s) rejected whole" in check.description
    rejected = {Path(k).name: v for k, v in meta["rejected_files"].items()}
    assert "empty" in rejected["customers_2026-04.csv"]
    assert "duplicated header column(s) ['tenure']" in rejected["customers_2026-05.csv"]
    quarantined = result.output_for_node("validate_customers", "quarantined_customers")
    assert sorted(
        quarantined.loc[quarantined["_line"] == 0, "_source"].map(lambda s: Path(s).name)
    ) == [
        "customers_2026-04.csv",
        "customers_2026-05.csv",
    ]


def test_previews_of_rows_follow_the_privacy_rule(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row previews in the event log (raw, validated, quarantined, the check's examples)
    carry hashed ids and no sensitive attribute; reasons keep no quoted value."""
    from churn_assets.lib.privacy import HASH_PREFIX

    folder = _folder(tmp_path, months=1, bad={})
    [path] = list(folder.iterdir())
    text = path.read_text().splitlines()
    # Two rows quarantined with values in their reasons: a bad value and a malformed line.
    text[1] = text[1].replace(",Male,", ",Alien,").replace(",Female,", ",Alien,")
    text[2] = text[2] + ",extra"
    path.write_text("\n".join(text) + "\n")
    result = _ingest(folder, monkeypatch)
    ids = set(result.output_for_node("validate_customers", "validated_customers")["customerID"])
    previews = []
    for event in result.get_asset_materialization_events():
        previews.append(event.materialization.metadata["preview"].value)
    [check] = result.get_asset_check_evaluations()
    previews.append(check.metadata["examples"].value)
    assert len(previews) == 4
    for text_md in previews:
        assert HASH_PREFIX in text_md
        assert not any(customer in text_md for customer in ids)
        columns = {c.strip() for c in text_md.splitlines()[0].split("|")}
        assert "customerID" in columns and not {"gender", "SeniorCitizen"} & columns
        assert "Alien" not in text_md and ",extra" not in text_md
