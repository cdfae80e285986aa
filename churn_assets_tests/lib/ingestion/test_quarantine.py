"""Quarantine files: written as text, deleted once older than the contract's retention."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from churn_assets.lib.ingestion import quarantine

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _aged(path: Path, days: float) -> None:
    stamp = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


def test_files_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "quarantine"
    rows = pd.DataFrame({"customerID": ["1"], "tenure": [2.5], "_reasons": ["not whole"]})
    for month, age in (("2026-01", 120), ("2026-06", 91), ("2026-09", 89)):
        _aged(quarantine.write(folder, month, rows), age)
    (folder / "notes.txt").write_text("not a quarantine file")
    _aged(folder / "notes.txt", 400)
    assert quarantine.purge(folder, None, NOW) == []  # null: kept forever
    assert quarantine.purge(folder, 90, NOW) == ["2026-01.parquet", "2026-06.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == ["2026-09.parquet", "notes.txt"]
    assert pd.read_parquet(folder / "2026-09.parquet")["tenure"].tolist() == ["2.5"]
    assert quarantine.purge(tmp_path / "never-written", 90, NOW) == []
