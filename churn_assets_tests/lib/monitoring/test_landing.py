"""Landing scans: each monthly file handed on exactly once, after settling, bad files once.

(Over 400 lines: the scan's cases, local and S3 alike, share the file-writing helpers here.)"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.stores import LocalFileStore, S3FileStore, SourceFile
from churn_assets.lib.monitoring.landing import follow_up, local_modified_at, month_file, scan
from churn_assets.lib.monitoring.landing_cursor import LandingCursor, ScanResult

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TICK = timedelta(seconds=30)
GOOD = b"customerID,tenure,Churn\n0001-A,5,No\n0002-B,17,Yes\n"


def land(folder: Path, name: str, data: bytes, modified: datetime = T0) -> Path:
    """Write a file into the landing folder with a chosen modification time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    ns = int(modified.timestamp() * 1e9)
    os.utime(path, ns=(ns, ns))
    return path


class Sensor:
    """Calls scan the way a sensor does: the cursor only ever lives as a JSON string."""

    def __init__(self, store, settle_seconds: float = 60.0):
        self.store = store
        self.cursor: str | None = None
        self.settle_seconds = settle_seconds

    def tick(self, now: datetime) -> ScanResult:
        result = scan(self.store, self.cursor, now, settle_seconds=self.settle_seconds)
        self.cursor = result.cursor.to_json()
        return result


class MemoryStore:
    """An in-memory FileStore with ETag-like versions (no modification time)."""

    description = "memory://landing/"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.vanish_on_read: set[str] = set()

    def put(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def list_files(self) -> list[SourceFile]:
        if not self.files:
            raise SourceNotFoundError(f"{self.description}: no data files")
        return [
            SourceFile(name, len(data), hashlib.md5(data).hexdigest())
            for name, data in sorted(self.files.items())
        ]

    def read_bytes(self, file: SourceFile) -> bytes:
        if file.name in self.vanish_on_read:
            raise FileNotFoundError(file.name)
        return self.files[file.name]


def names(items) -> list[str]:
    return [Path(item.name).name for item in items]


def test_files_settle_then_are_handed_on_exactly_once(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    for month in ("2026-03", "2026-01", "2026-02"):
        land(folder, f"customers_{month}.csv", GOOD, modified=T0)
    sensor = Sensor(LocalFileStore(folder))

    first = sensor.tick(T0 + timedelta(seconds=5))  # just written: may still be growing
    assert first.ready == []
    assert names(first.pending) == [f"customers_2026-0{i}.csv" for i in (1, 2, 3)]
    assert first.pending[0].since == T0 + timedelta(seconds=5)
    assert first.rejected == []

    second = sensor.tick(T0 + timedelta(seconds=5) + TICK)  # unchanged for a whole tick
    assert [r.month for r in second.ready] == ["2026-01", "2026-02", "2026-03"]
    assert all(not r.replaced for r in second.ready)
    assert [r.size for r in second.ready] == [len(GOOD)] * 3
    assert second.ready[0].name == str(folder / "customers_2026-01.csv")
    assert second.pending == second.rejected == []

    for later in range(2, 5):
        again = sensor.tick(T0 + later * TICK)
        assert again.ready == again.pending == again.rejected == []
        assert again.note is None
        assert again.summary() == "0 ready, 0 pending, 0 rejected"


def test_old_files_are_ready_on_the_first_tick(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-01.csv", GOOD, modified=T0 - timedelta(hours=1))
    land(folder, "customers_2026-02.csv", GOOD, modified=T0 - timedelta(seconds=10))
    result = Sensor(LocalFileStore(folder), settle_seconds=60).tick(T0)
    assert [r.month for r in result.ready] == ["2026-01"]
    assert [p.month for p in result.pending] == ["2026-02"]
    # settle_seconds=0 trusts every listed file at once.
    immediate = Sensor(LocalFileStore(folder), settle_seconds=0).tick(T0)
    assert [r.month for r in immediate.ready] == ["2026-01", "2026-02"]


def test_restart_from_the_stored_cursor_behaves_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-01.csv", GOOD)
    land(folder, "customers.csv", GOOD)
    store = LocalFileStore(folder)
    live: LandingCursor | None = None  # kept in memory, never serialised
    restarted: str | None = None  # what survives a daemon restart
    for step in range(4):
        if step == 2:
            land(folder, "customers_2026-02.csv", GOOD, modified=T0 + 2 * TICK)
        now = T0 + step * TICK + timedelta(seconds=1)
        a = scan(store, live, now)
        b = scan(store, restarted, now)
        assert (a.ready, a.pending, a.rejected) == (b.ready, b.pending, b.rejected)
        assert LandingCursor.from_json(a.cursor.to_json()) == a.cursor == b.cursor
        live, restarted = a.cursor, b.cursor.to_json()
    assert set(LandingCursor.from_json(restarted).requested) == {
        str(folder / "customers_2026-01.csv"),
        str(folder / "customers_2026-02.csv"),
    }


def test_half_written_file_waits_until_stable(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    path = land(folder, "customers_2026-04.csv", GOOD[:30], modified=T0)
    sensor = Sensor(LocalFileStore(folder))
    assert names(sensor.tick(T0 + timedelta(seconds=1)).pending) == [path.name]

    # The writer is still busy: size and mtime change between ticks.
    land(folder, path.name, GOOD[:45], modified=T0 + TICK)
    growing = sensor.tick(T0 + TICK + timedelta(seconds=1))
    assert growing.ready == []
    assert growing.pending[0].size == 45
    assert growing.pending[0].since == T0 + TICK + timedelta(seconds=1)

    land(folder, path.name, GOOD, modified=T0 + 2 * TICK)
    assert sensor.tick(T0 + 2 * TICK + timedelta(seconds=1)).ready == []
    done = sensor.tick(T0 + 3 * TICK + timedelta(seconds=1))  # no change for a whole tick
    assert [(r.name, r.size) for r in done.ready] == [(str(path), len(GOOD))]


def test_an_empty_file_being_written_is_not_rejected_before_it_settles(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-04.csv", b"", modified=T0)  # created, not yet written
    sensor = Sensor(LocalFileStore(folder))
    first = sensor.tick(T0 + timedelta(seconds=1))
    assert first.rejected == []
    assert names(first.pending) == ["customers_2026-04.csv"]
    land(folder, "customers_2026-04.csv", GOOD, modified=T0 + timedelta(seconds=20))
    assert sensor.tick(T0 + TICK).ready == []
    assert [r.month for r in sensor.tick(T0 + 2 * TICK).ready] == ["2026-04"]


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("customers_2026-01.csv", b"", "the file is empty (0 bytes)"),
        ("customers_2026-01.csv", b"\n  \n", "only whitespace"),
        ("customers_2026-01.csv", b"customerID,tenure,Churn\n", "header only, no data rows"),
        ("customers_2026-01.csv", b"customerID,tenure,Churn\r\n\r\n", "header only"),
        ("customers.csv", GOOD, "no YYYY-MM month in the file name"),
        ("customers_2026-01_2026-02.csv", GOOD, "several months (2026-01, 2026-02)"),
        ("customers_2026-01.csv", GOOD.decode().encode("utf-16"), "binary content (NUL bytes)"),
        ("customers_2026-01.csv", b"\x1f\x8b\x08\x00" + bytes(range(256)), "NUL bytes"),
        ("customers_2026-01.csv", b"\xffcustomer\xfe,id\nx,y\n", "header line is not UTF-8"),
        (
            "customers_2026-01.csv",
            "name,city\nJosé,Málaga\nZoë,Köln\nok,ok\n".encode("latin-1"),
            "not UTF-8 text: 2 of 3 data lines",
        ),
        ("customers_2026-01.csv", b"\ncustomerID\n1\n", "first line is blank"),
        ("customers_2026-01.parquet", b"PAR1 not really", "not a Parquet file"),
        ("customers_2026-01.parquet", b"PAR1" + b"\x00" * 16 + b"PAR1", "not a readable Parquet"),
    ],
)
def test_bad_file_rejected_once_and_later_files_still_ingested(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    folder = tmp_path / "landing"
    land(folder, name, data, modified=T0 - timedelta(hours=1))
    sensor = Sensor(LocalFileStore(folder))

    first = sensor.tick(T0)
    [rejected] = first.rejected
    assert rejected.name == str(folder / name)
    assert rejected.reason.startswith(f"{folder / name}: ")
    assert problem in rejected.reason
    assert first.ready == first.pending == []

    land(folder, "customers_2026-02.csv", GOOD, modified=T0 - timedelta(hours=1))
    second = sensor.tick(T0 + TICK)
    assert second.rejected == []  # reported once
    assert [r.month for r in second.ready] == ["2026-02"]
    assert sensor.tick(T0 + 2 * TICK).rejected == []


def test_corrected_reupload_of_a_rejected_file_is_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-04.csv", b"customerID,tenure\n", modified=T0 - timedelta(hours=1))
    sensor = Sensor(LocalFileStore(folder))
    assert "header only" in sensor.tick(T0).rejected[0].reason
    assert sensor.tick(T0 + TICK).rejected == []

    land(folder, "customers_2026-04.csv", GOOD, modified=T0 + TICK + timedelta(seconds=5))
    fixed = sensor.tick(T0 + 2 * TICK)
    assert fixed.rejected == fixed.ready == []
    assert names(fixed.pending) == ["customers_2026-04.csv"]
    [ready] = sensor.tick(T0 + 3 * TICK).ready
    assert (ready.month, ready.replaced) == ("2026-04", False)  # never ingested before


def test_changed_accepted_file_comes_back_as_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-04.csv", GOOD, modified=T0 - timedelta(hours=1))
    sensor = Sensor(LocalFileStore(folder))
    [first] = sensor.tick(T0).ready
    assert not first.replaced

    corrected = GOOD + b"0003-C,2,No\n"
    land(folder, "customers_2026-04.csv", corrected, modified=T0 + timedelta(seconds=10))
    assert names(sensor.tick(T0 + TICK).pending) == ["customers_2026-04.csv"]
    [again] = sensor.tick(T0 + 2 * TICK).ready
    assert (again.month, again.replaced, again.size) == ("2026-04", True, len(corrected))
    assert again.version != first.version
    assert sensor.tick(T0 + 3 * TICK).ready == []

    # A replacement that turns out broken is rejected; the month stays ingested and free.
    land(folder, "customers_2026-04.csv", b"customerID\n", modified=T0 - timedelta(hours=1))
    assert "header only" in sensor.tick(T0 + 4 * TICK).rejected[0].reason
    land(folder, "customers_2026-04.csv", GOOD, modified=T0 - timedelta(minutes=30))
    [fixed] = sensor.tick(T0 + 5 * TICK).ready
    assert fixed.replaced


def test_malformed_lines_are_left_to_validation(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    messy = GOOD + b"0003-C,too,many,fields\nJos\xe9,1,No\n0004-D,3,No\n0005-E,4,No\n"
    land(folder, "customers_2026-04.csv", messy, modified=T0 - timedelta(hours=1))
    result = Sensor(LocalFileStore(folder)).tick(T0)
    assert [r.month for r in result.ready] == ["2026-04"]
    assert result.rejected == []


def test_parquet_files(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    old = T0 - timedelta(hours=1)
    frame = pd.DataFrame({"customerID": ["0001-A", "0002-B"], "tenure": [5, 17]})
    for month, rows in (("2026-01", frame), ("2026-02", frame.iloc[:0])):
        path = folder / f"customers_{month}.parquet"
        folder.mkdir(exist_ok=True)
        rows.to_parquet(path, index=False)
        land(folder, path.name, path.read_bytes(), modified=old)
    result = Sensor(LocalFileStore(folder)).tick(T0)
    assert [r.month for r in result.ready] == ["2026-01"]
    [rejected] = result.rejected
    assert "customers_2026-02.parquet: header only, no data rows" in rejected.reason


def test_two_files_for_one_month_are_ambiguous(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    old = T0 - timedelta(hours=1)
    frame = pd.DataFrame({"customerID": ["0001-A"], "tenure": [5]})
    land(folder, "customers_2026-04.parquet", frame.to_parquet(index=False), modified=old)
    sensor = Sensor(LocalFileStore(folder))
    assert names(sensor.tick(T0).ready) == ["customers_2026-04.parquet"]

    # The CSV arrives later, so it is the one refused, although it sorts first by name.
    land(folder, "customers_2026-04.csv", GOOD, modified=old)
    second = sensor.tick(T0 + TICK)
    assert second.ready == []
    [rejected] = second.rejected
    assert rejected.reason == (
        f"{folder / 'customers_2026-04.csv'}: ambiguous month 2026-04, already provided by "
        f"{folder / 'customers_2026-04.parquet'}; remove one of the two files"
    )
    assert sensor.tick(T0 + 2 * TICK).rejected == []  # reported once

    # Deleting the file that was ingested resolves it: the CSV now provides the month.
    (folder / "customers_2026-04.parquet").unlink()
    [ready] = sensor.tick(T0 + 3 * TICK).ready
    assert (Path(ready.name).name, ready.replaced) == ("customers_2026-04.csv", True)
    assert sensor.tick(T0 + 4 * TICK).ready == []
    assert list(LandingCursor.from_json(sensor.cursor).requested) == [ready.name]


def test_same_tick_ambiguity_keeps_the_first_by_name_and_frees_the_month_if_it_is_bad() -> None:
    store = MemoryStore()
    store.put("customers_2026-04.csv", b"customerID\n")  # header only
    store.put("customers_2026-04.parquet", b"PAR1-not-parquet")
    store.put("customers_2026-05.csv", GOOD)
    sensor = Sensor(store)

    first = sensor.tick(T0)
    assert [r.reason.split(":")[0] for r in first.rejected] == ["customers_2026-04.parquet"]
    assert "ambiguous month 2026-04" in first.rejected[0].reason
    second = sensor.tick(T0 + TICK)  # settled: the CSV proves bad, May is fine
    assert names(second.ready) == ["customers_2026-05.csv"]
    assert [r.name for r in second.rejected] == ["customers_2026-04.csv"]
    # With the CSV out of the way, the Parquet file is judged on its own content.
    third = sensor.tick(T0 + 2 * TICK)
    assert [(r.name, "not a Parquet file" in r.reason) for r in third.rejected] == [
        ("customers_2026-04.parquet", True)
    ]
    assert sensor.tick(T0 + 3 * TICK).rejected == []


def test_unsupported_suffix_and_vanished_files() -> None:
    store = MemoryStore()
    store.put("customers_2026-04.xlsx", b"PK\x03\x04")
    store.put("customers_2026-05.csv", GOOD)
    store.vanish_on_read.add("customers_2026-05.csv")
    sensor = Sensor(store, settle_seconds=0)
    first = sensor.tick(T0)
    assert [r.reason for r in first.rejected] == [
        "customers_2026-04.xlsx: unsupported file type '.xlsx' (use .csv or .parquet)"
    ]
    assert first.ready == []  # unsettled (no mtime): pending
    second = sensor.tick(T0 + TICK)
    assert second.ready == second.rejected == []  # deleted between listing and reading
    store.vanish_on_read.clear()
    assert names(sensor.tick(T0 + 2 * TICK).ready) == ["customers_2026-05.csv"]


def test_read_errors_other_than_missing_propagate() -> None:
    class Broken(MemoryStore):
        def read_bytes(self, file: SourceFile) -> bytes:
            raise PermissionError("access denied")

    store = Broken()
    store.put("customers_2026-05.csv", GOOD)
    sensor = Sensor(store)
    sensor.tick(T0)
    with pytest.raises(SourceError, match=r"customers_2026-05.csv: cannot read .*denied"):
        sensor.tick(T0 + TICK)


def test_missing_or_empty_landing_folder_is_not_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    sensor = Sensor(LocalFileStore(folder), settle_seconds=0)
    missing = sensor.tick(T0)
    assert missing.ready == missing.pending == missing.rejected == []
    assert missing.note is not None
    assert "nothing has landed yet" in missing.note
    assert str(folder) in missing.note
    assert missing.summary().startswith("0 ready, 0 pending, 0 rejected (nothing has landed")

    folder.mkdir()
    (folder / "README.txt").write_text("drop monthly files here")
    assert "no .csv or .parquet files" in (sensor.tick(T0 + TICK).note or "")

    land(folder, "customers_2026-04.csv", GOOD, modified=T0)
    assert names(sensor.tick(T0 + 2 * TICK).ready) == ["customers_2026-04.csv"]
    # Files disappearing later is not an error either, and does not forget what was ingested.
    (folder / "customers_2026-04.csv").unlink()
    gone = sensor.tick(T0 + 3 * TICK)
    assert gone.note is not None
    assert len(LandingCursor.from_json(sensor.cursor).requested) == 1


def test_local_modified_at_reads_only_local_versions() -> None:
    ns = int(T0.timestamp() * 1e9)
    assert local_modified_at(SourceFile("x.csv", 12, f"12-{ns}")) == T0
    assert local_modified_at(SourceFile("x.csv", 12, "0cc175b9c0f1b6a831c399e269772661")) is None
    assert local_modified_at(SourceFile("x.csv", 12, "0cc175b9c0f1b6a831c399e269772661-3")) is None
    assert local_modified_at(SourceFile("x.csv", 5, f"12-{ns}")) is None


# --------------------------------------------------------------------------- S3 (moto server)
@pytest.fixture
def s3_client(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A boto3 client on the moto server, isolated from the developer's AWS setup."""
    import boto3

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    requests.post(f"{s3_server}/moto-api/reset", timeout=5).raise_for_status()
    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.slow
def test_s3_landing_uses_etags_as_versions(s3_client) -> None:
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files

    bucket, prefix = "landing", "monthly/"
    store = S3FileStore(s3_client, bucket, prefix)
    with pytest.raises(SourceNotFoundError, match="bucket 'landing' does not exist"):
        scan(store, None, T0)  # a missing bucket is a configuration error, not "not yet"

    s3_client.create_bucket(Bucket=bucket)
    sensor = Sensor(store)
    assert "nothing has landed yet" in (sensor.tick(T0).note or "")

    result = simulate(SimulatorConfig(n_customers=200, months=2, seed=3))
    paths = write_monthly_files(result, Path(os.environ["CHURN_HOME"]) / "monthly")
    for path in paths:
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}{path.name}", Body=path.read_bytes())
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}notes.txt", Body=b"ignored")
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}customers.csv", Body=GOOD)

    first = sensor.tick(T0 + TICK)  # an ETag carries no age: wait one tick
    assert first.ready == []
    assert [p.name for p in first.pending] == [f"{prefix}{p.name}" for p in paths]
    assert [r.name for r in first.rejected] == [f"{prefix}customers.csv"]

    second = sensor.tick(T0 + 2 * TICK)
    etags = {
        obj["Key"]: obj["ETag"].strip('"')
        for obj in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    }
    assert [(r.name, r.version) for r in second.ready] == [
        (f"{prefix}{p.name}", etags[f"{prefix}{p.name}"]) for p in paths
    ]
    months = [r.month for r in second.ready]
    assert months == sorted(months) and len(set(months)) == len(paths)
    assert second.rejected == []
    assert sensor.tick(T0 + 3 * TICK).ready == []

    # Re-putting identical bytes keeps the ETag: nothing to do. New bytes: a new version.
    key = f"{prefix}{paths[0].name}"
    s3_client.put_object(Bucket=bucket, Key=key, Body=paths[0].read_bytes())
    assert sensor.tick(T0 + 4 * TICK).pending == []
    s3_client.put_object(Bucket=bucket, Key=key, Body=paths[0].read_bytes() + GOOD[-13:])
    assert [p.name for p in sensor.tick(T0 + 5 * TICK).pending] == [key]
    [replaced] = sensor.tick(T0 + 6 * TICK).ready
    assert (replaced.name, replaced.replaced) == (key, True)
    assert replaced.version != etags[key]


def test_month_file_finds_the_one_file_of_a_month(tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    land(folder, "customers_2026-04.csv", GOOD)
    land(folder, "customers_2026-05.csv", GOOD)
    store = LocalFileStore(folder)
    assert Path(month_file(store, "2026-04").name).name == "customers_2026-04.csv"
    with pytest.raises(LookupError, match="month 2026-06: expected exactly one file"):
        month_file(store, "2026-06")
    land(folder, "customers_2026-04.parquet", b"PAR1")
    with pytest.raises(LookupError, match="found"):
        month_file(store, "2026-04")
    # The sensor names the file it accepted: that one, even beside an ambiguous other.
    named = str(folder / "customers_2026-04.csv")
    assert month_file(store, "2026-04", named).name == named


def test_a_file_is_accepted_when_its_run_succeeds_and_retried_when_it_fails() -> None:
    """Ready is "requested", not "done": the run's outcome decides. A failed ingest is
    retried under a new run key, up to three runs; then it is given up (rejected for that
    version, with a reason) until a new version lands."""
    store = MemoryStore()
    store.put("customers_2026-01.csv", GOOD)
    store.put("customers_2026-02.csv", GOOD + b"0003-C,1,No\n")
    sensor = Sensor(store, settle_seconds=0)
    sensor.tick(T0 - TICK)  # no modification time in this store: settled when seen twice
    first = sensor.tick(T0)
    keys = {Path(r.name).name: r.run_key for r in first.ready}
    jan, feb = keys["customers_2026-01.csv"], keys["customers_2026-02.csv"]
    assert "#" not in jan  # the first attempt keeps the key it always had: name@version
    states = {jan: "in_progress", feb: "failed"}
    seen: list[tuple[str, str]] = []

    def state_of(key: str, month: str) -> str:
        seen.append((key, month))
        return states.get(key, "missing")

    cursor = LandingCursor.from_json(sensor.cursor)
    later = T0 + TICK
    up = follow_up(cursor, state_of, later)
    assert (up.accepted, up.gave_up) == ([], [])
    assert [(r.name, r.run_key, r.month) for r in up.retries] == [
        ("customers_2026-02.csv", feb + "#2", "2026-02")
    ]
    assert sorted(seen) == [(jan, "2026-01"), (feb, "2026-02")]
    # The next scan neither hands on the open requests again nor loses them.
    again = scan(store, cursor, later, settle_seconds=0)
    assert not again.ready and set(again.cursor.requested) == set(keys)

    states.update({jan: "succeeded", feb + "#2": "failed"})
    up = follow_up(again.cursor, state_of, later + TICK)
    assert up.accepted == ["customers_2026-01.csv"]
    assert [r.run_key for r in up.retries] == [feb + "#3"]
    states[feb + "#3"] = "failed"
    up = follow_up(again.cursor, state_of, later + 2 * TICK)
    [gave_up] = up.gave_up
    assert "ingest failed 3 time(s)" in gave_up.reason and "#3" in gave_up.reason
    final = again.cursor
    assert list(final.accepted) == ["customers_2026-01.csv"]
    assert not final.requested and "customers_2026-02.csv" in final.rejected
    # Rejected for that version: silent; a corrected upload is a new file.
    assert not scan(store, final, later + 3 * TICK, settle_seconds=0).ready
    store.put("customers_2026-02.csv", GOOD + b"0004-D,2,No\n")
    seen_once = scan(store, final, later + 4 * TICK, settle_seconds=0).cursor
    assert names(scan(store, seen_once, later + 5 * TICK, settle_seconds=0).ready) == [
        "customers_2026-02.csv"
    ]


def test_a_request_that_never_became_a_run_is_retried_after_an_hour() -> None:
    store = MemoryStore()
    store.put("customers_2026-01.csv", GOOD)
    cursor = scan(store, scan(store, None, T0, settle_seconds=0).cursor, T0).cursor
    assert not follow_up(cursor, lambda key, month: "missing", T0 + timedelta(minutes=59)).retries
    [retry] = follow_up(cursor, lambda key, month: "missing", T0 + timedelta(minutes=61)).retries
    assert retry.attempt == 2


class CountingStore(LocalFileStore):
    """A local store that counts the bytes the scan reads."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.read = 0

    def read_bytes(self, file: SourceFile) -> bytes:
        data = super().read_bytes(file)
        self.read += len(data)
        return data

    def read_range(self, file: SourceFile, start: int, end: int) -> bytes:
        data = super().read_range(file, start, end)
        self.read += len(data)
        return data


def test_the_scan_judges_files_without_downloading_them(tmp_path: Path) -> None:
    """A sensor tick reads a CSV's first MiB and a Parquet file's footer, not the files:
    a large monthly file costs the tick the same as a small one."""
    from churn_assets.lib.monitoring.file_checks import CSV_SAMPLE_BYTES

    folder = tmp_path / "landing"
    rows = b"".join(b"%07d-X,%d,No\n" % (i, i % 70) for i in range(300_000))
    big_csv = land(folder, "customers_2026-01.csv", GOOD.split(b"\n")[0] + b"\n" + rows)
    frame = pd.DataFrame({"customerID": [f"{i:07d}" for i in range(200_000)], "tenure": 1})
    frame.to_parquet(folder / "customers_2026-02.parquet", row_group_size=50_000)
    land(folder, "customers_2026-02.parquet", (folder / "customers_2026-02.parquet").read_bytes())
    sizes = big_csv.stat().st_size + (folder / "customers_2026-02.parquet").stat().st_size
    store = CountingStore(folder)
    result = scan(store, None, T0 + timedelta(hours=1), settle_seconds=60)
    assert names(result.ready) == ["customers_2026-01.csv", "customers_2026-02.parquet"]
    assert big_csv.stat().st_size > 3 * CSV_SAMPLE_BYTES
    assert store.read < CSV_SAMPLE_BYTES + 256 * 1024 < sizes / 2  # pyarrow reads 64 KiB tails
    # The sampled checks still find what the whole-file checks found.
    land(folder, "customers_2026-03.parquet", b"PAR1 not really parquet")
    land(folder, "customers_2026-04.csv", b"customerID,tenure,tenure\n1,2,3\n")
    later = scan(store, result.cursor, T0 + timedelta(hours=2), settle_seconds=60)
    reasons = {Path(r.name).name: r.reason for r in later.rejected}
    assert "duplicated header column(s) ['tenure']" in reasons["customers_2026-04.csv"]
    assert "not a Parquet file" in reasons["customers_2026-03.parquet"]
