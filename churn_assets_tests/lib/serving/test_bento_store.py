"""Bentos published to the storage for serving hosts: pointer after archive, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from upath import UPath

from churn_assets.lib.serving import bento_store
from churn_assets.lib.serving.bento_build import BentoBuild

BUILD = BentoBuild(
    model_tag="churn_model:v3",
    bento_tag="churn_service:v3",
    bento_path="/nowhere",
    model_size_bytes=1,
    bento_size_bytes=2,
    champion_version="3",
    shadow_version=None,
)


def test_publish_writes_the_archive_then_points_latest_at_it(tmp_path: Path) -> None:
    archive = tmp_path / "built.bento"
    archive.write_bytes(b"x" * (9 << 20))  # more than one copy chunk
    folder = UPath(tmp_path / "storage" / "bentos")
    uri = bento_store.publish(archive, folder, BUILD)
    assert uri.endswith("churn_service-v3.bento")
    assert UPath(uri).read_bytes() == archive.read_bytes()
    pointer = bento_store.latest(folder)
    assert (pointer["bento_tag"], pointer["uri"], pointer["champion_version"]) == (
        "churn_service:v3",
        uri,
        "3",
    )
    assert pointer["size_bytes"] == 9 << 20


def test_the_tag_comes_from_the_archive_name() -> None:
    assert bento_store.tag_of("s3://b/storage/bentos/churn_service-v3.bento") == "churn_service:v3"
    assert bento_store.tag_of("/x/churn_service-v1-shadow-v2.bento") == "churn_service:v1-shadow-v2"


def test_nothing_published_names_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(bento_store.BentoStoreError, match="materialize churn_bento"):
        bento_store.latest(UPath(tmp_path / "empty"))


def test_the_cli_fails_clearly_when_nothing_was_published(
    churn_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(churn_home / "bentoml"))
    with pytest.raises(SystemExit) as exit_:
        bento_store.main(["import"])
    assert exit_.value.code == 1
    assert "no bento published" in capsys.readouterr().err
    with pytest.raises(bento_store.BentoStoreError, match="does not exist"):
        bento_store.fetch(str(churn_home / "missing.bento"))


def test_latest_is_json_on_stdout(
    churn_home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    archive = tmp_path / "a.bento"
    archive.write_bytes(b"bento")
    bento_store.publish(archive, UPath(churn_home / "storage" / "bentos"), BUILD)
    bento_store.main(["latest"])
    assert json.loads(capsys.readouterr().out)["bento_tag"] == "churn_service:v3"
