"""Faults mid-bento-build and mid-promotion, on a real MLflow store and a real BentoML home:
the process is SIGKILLed mid-build or just before the alias moves, a rollback's rebuild
fails; afterwards the registry still names the champion that is served, nothing is deleted,
and the retry leaves registry, ``churn_service:latest`` and the published ``latest.json``
on one version."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from upath import UPath

from churn_assets.lib.contract import DataContract
from churn_assets.lib.registry import aliases, consistency
from churn_assets.lib.serving import packaging
from churn_assets.lib.serving.policy import BentoPolicy
from churn_assets_tests.lib.registry.registry_store import (
    NAME,
    background,
    copy_of,
    template,
    tracking_uri,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _deploy(
    home: Path, contract: DataContract, policy: BentoPolicy | None = None
) -> packaging.Deployment:
    return packaging.deploy(
        home,
        NAME,
        contract,
        background(contract),
        policy,
        publish_to=UPath(home / "storage" / "bentos"),
    )


def _state(home: Path) -> dict:
    """What each place says, and every BentoML item in the store (complete or not)."""
    found = consistency.check(NAME, UPath(home / "storage" / "bentos"), home / "bentoml")
    store = home / "bentoml"
    return {
        "champion": found.registry,
        "pending": found.pending.version if found.pending else None,
        "published": found.published_tag,
        "latest": found.local_tag,
        "bentos": sorted(
            p.name for p in (store / "bentos" / "churn_service").iterdir() if p.is_dir()
        ),
        "models": sorted(
            p.name for p in (store / "models" / "churn_model").iterdir() if p.is_dir()
        ),
        "complete": all(
            (p / "bento.yaml").is_file()
            for p in (store / "bentos" / "churn_service").iterdir()
            if p.is_dir()
        ),
        "problems": found.problems,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, contract: DataContract) -> Path:
    """v1 champion with its bento built and published; v2 approved by the gate (pending)."""
    import mlflow

    home = copy_of(template(tmp_path_factory), tmp_path_factory.mktemp("served") / "home")
    _deploy(home, contract, BentoPolicy(shadow=False))  # v2 is not approved yet
    aliases.request_promotion(NAME, "2", "gate", "all criteria passed", {})
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return home


@pytest.fixture
def home(served: Path, tmp_path: Path) -> Iterator[Path]:
    import mlflow

    yield copy_of(served, tmp_path / "home")
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def _child(home: str, contract_path: str, die_before_champion: bool) -> None:
    """A forked deploy in its own process group (the build is its child process)."""
    import mlflow
    from mlflow import MlflowClient

    os.setpgrp()
    mlflow.set_tracking_uri(tracking_uri(Path(home)))
    if die_before_champion:
        original = MlflowClient.set_registered_model_alias

        def die_first(self, name, alias, version):
            if alias == aliases.CHAMPION:  # bento built and published; the alias not moved
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, name, alias, version)

        MlflowClient.set_registered_model_alias = die_first
    _deploy(Path(home), DataContract.load(contract_path))
    os._exit(0)


def _start(home: Path, contract: DataContract, die_before_champion: bool = False):
    # fork: the child starts with MLflow and BentoML's callers imported.
    child = multiprocessing.get_context("fork").Process(
        target=_child, args=(str(home), contract.path, die_before_champion)
    )
    child.start()
    return child


def test_killed_mid_build_the_old_champion_stays_served_and_the_retry_completes(
    home: Path, contract: DataContract
) -> None:
    before = _state(home)
    assert (before["champion"], before["pending"], before["latest"]) == (
        "1",
        "2",
        "churn_service:v1",
    )
    child = _start(home, contract)
    saved = home / "bentoml" / "models" / "churn_model" / "v2" / "model.yaml"
    deadline = time.monotonic() + 240
    while not saved.is_file() and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert saved.is_file(), "the build never saved its model"
    os.killpg(child.pid, signal.SIGKILL)  # the model is saved, the bento is being built
    child.join(30)
    after = _state(home)
    assert (after["champion"], after["pending"]) == ("1", "2")
    assert (after["latest"], after["published"]) == ("churn_service:v1", "churn_service:v1")
    assert "v1" in after["bentos"] and "v1" in after["models"]
    assert any("materialize churn_bento" in p for p in after["problems"])

    done = _deploy(home, contract)  # the retry
    final = _state(home)
    assert done.move is not None and done.move.to_version == "2"
    assert final["champion"] == "2" and final["pending"] is None
    assert final["latest"] == final["published"] == done.packaged.build.bento_tag
    assert done.packaged.build.bento_tag == "churn_service:v2-r2"  # v2's model was kept
    assert final["problems"] == [] and final["complete"]
    assert {"v1", "v2-r2"} <= set(final["bentos"]) and {"v1", "v2"} <= set(final["models"])


def test_killed_before_the_alias_moves_the_retry_completes(
    home: Path, contract: DataContract
) -> None:
    child = _start(home, contract, die_before_champion=True)
    child.join(300)
    assert child.exitcode == -signal.SIGKILL
    after = _state(home)
    # Built and published, the alias never moved: the move is still pending, and the check
    # names both the pending move and the published copy ahead of the registry.
    assert (after["champion"], after["pending"], after["published"]) == (
        "1",
        "2",
        "churn_service:v2",
    )
    assert len(after["problems"]) == 3
    assert all("materialize churn_bento" in p for p in after["problems"])

    done = _deploy(home, contract)
    final = _state(home)
    assert (final["champion"], final["pending"], final["problems"]) == ("2", None, [])
    assert final["latest"] == final["published"] == done.packaged.build.bento_tag
    assert {"v1", "v2", "v2-r2"} <= set(final["bentos"])


def test_a_failed_rollback_build_keeps_the_target_and_latest(
    home: Path, contract: DataContract, tmp_path: Path
) -> None:
    _deploy(home, contract)  # v2 becomes champion, served as churn_service:v2
    aliases.request_rollback(NAME, "operator", "bad week")
    broken = tmp_path / "broken.yaml"
    broken.write_text("not: [a contract")
    with pytest.raises(packaging.PackagingError, match="bento build failed"):
        _deploy(home, dataclasses.replace(contract, path=str(broken)))
    after = _state(home)
    assert (after["champion"], after["pending"]) == ("2", "1")
    assert (after["latest"], after["published"]) == ("churn_service:v2", "churn_service:v2")
    store = home / "bentoml"
    assert (store / "bentos" / "churn_service" / "v1" / "bento.yaml").is_file()
    assert (store / "models" / "churn_model" / "v1" / "model.yaml").is_file()

    # The retry that completes it is the same path as above (and the gate lifecycle test runs
    # a whole rollback through Dagster): not built again here, to keep CI time down.
    assert any("a rollback to v1" in p for p in after["problems"])
