"""Loading whole sources: the simulator, folders of monthly files, Parquet, versions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.ingestion.errors import SourceFormatError
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files
from churn_assets.lib.ingestion.sources import load_raw, source_version
from churn_assets.lib.ingestion.uri import parse_data_uri

HEADER = "customerID,gender,tenure,Churn\n"


def test_simulator_source_has_lineage() -> None:
    loaded = load_raw(parse_data_uri("sim://?customers=200&months=2&dirty_rate=0"))
    assert len(loaded.frame) == 400
    assert (loaded.frame["_source"] == "simulator").all()
    assert loaded.frame["_parse_error"].isna().all()


def test_folder_of_monthly_files(tmp_path: Path) -> None:
    result = simulate(SimulatorConfig(n_customers=150, months=3, seed=1))
    paths = write_monthly_files(result, tmp_path / "landing")
    # Files without a snapshot column get it from the YYYY-MM in their name.
    for p in paths:
        frame = pd.read_csv(p)
        frame.drop(columns="snapshot_month").to_csv(p, index=False)
    loaded = load_raw(parse_data_uri(str(tmp_path / "landing")), event_time="snapshot_month")
    assert len(loaded.frame) == len(result.snapshots)
    assert loaded.files == [str(p) for p in sorted(paths)]
    months = loaded.frame.groupby("_source")["snapshot_month"].first()
    assert list(months) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert loaded.frame["_line"].min() == 2  # physical line numbers, header is line 1


def test_parquet_file(tmp_path: Path) -> None:
    result = simulate(SimulatorConfig(n_customers=100, months=1))
    path = tmp_path / "customers.parquet"
    result.snapshots.to_parquet(path)
    loaded = load_raw(parse_data_uri(f"file://{path}"))
    assert len(loaded.frame) == 100
    assert loaded.frame["tenure"].dtype.kind == "i"


def test_source_version_tracks_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "1,Male,3,No\n")
    uri = parse_data_uri(str(tmp_path))
    first, n = source_version(uri)
    assert n == 1
    assert source_version(uri) == (first, 1)
    (tmp_path / "b.csv").write_text(HEADER + "2,Male,3,No\n")
    second, n = source_version(uri)
    assert n == 2 and second != first


def test_an_unreadable_file_in_a_folder_is_quarantined_not_skipped(tmp_path: Path) -> None:
    good = "customerID,tenure\n1,3\n2,5\n"
    (tmp_path / "customers_2026-01.csv").write_text(good)
    (tmp_path / "customers_2026-02.csv").write_text("")
    # A repeated header column: it would break the concatenation of the whole folder.
    (tmp_path / "customers_2026-03.csv").write_text("customerID,tenure,tenure\n3,1,2\n")
    loaded = load_raw(parse_data_uri(str(tmp_path)))
    assert [Path(f).name for f in loaded.files] == ["customers_2026-01.csv"]
    assert {Path(f).name: r for f, r in loaded.rejected.items()}.keys() == {
        "customers_2026-02.csv",
        "customers_2026-03.csv",
    }
    # Each rejected file is one raw row at line 0 that carries its reason, for validation.
    whole = loaded.frame[loaded.frame["_line"] == 0].set_index("_source")["_parse_error"]
    assert len(loaded.frame) == 4 and len(whole) == 2
    assert "empty" in whole[str(tmp_path / "customers_2026-02.csv")]
    assert (
        "duplicated header column(s) ['tenure']" in whole[str(tmp_path / "customers_2026-03.csv")]
    )
    assert loaded.unparseable_lines == 0  # files, not lines
    (tmp_path / "customers_2026-01.csv").write_text("   ")
    with pytest.raises(SourceFormatError, match="no readable file"):
        load_raw(parse_data_uri(str(tmp_path)))


def test_unparseable_lines_are_counted(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "1,Male,3,No\n2,Female\n3,Male,1,No,extra\n")
    loaded = load_raw(parse_data_uri(str(tmp_path / "a.csv")))
    assert len(loaded.frame) == 3
    assert loaded.unparseable_lines == 2
