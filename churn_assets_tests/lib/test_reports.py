"""Report folders are shared through the storage when it is a bucket (a step's CHURN_HOME is
its own disk there), and stay where they are on a laptop."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from churn_assets.lib.reports import share


def _report(folder: Path) -> Path:
    (folder / "img").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>EDA</h1>")
    (folder / "img" / "plot.png").write_bytes(b"\x89PNG")
    return folder


def test_a_local_storage_keeps_the_folder(tmp_path: Path, churn_home: Path) -> None:
    folder = _report(tmp_path / "eda")
    assert share(folder, "eda") == str(folder)
    assert not (churn_home / "storage" / "reports").exists()


def test_a_bucket_gets_a_copy_of_every_file(
    tmp_path: Path, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_STORAGE_URI", "s3://reports-test/churn")
    client = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    client.create_bucket(Bucket="reports-test")

    where = share(_report(tmp_path / "eda"), "eda")
    assert where == "s3://reports-test/churn/reports/eda"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="reports-test")["Contents"])
    assert keys == ["churn/reports/eda/img/plot.png", "churn/reports/eda/index.html"]
    body = client.get_object(Bucket="reports-test", Key="churn/reports/eda/index.html")["Body"]
    assert body.read() == b"<h1>EDA</h1>"
