"""The registry's moves on a real MLflow store: a promotion or rollback is requested, then
completed with the alias as its last write; a process killed between any two writes leaves a
state the retry completes and a rollback can still undo."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from churn_assets.lib.registry import aliases
from churn_assets_tests.lib.registry.registry_store import (
    NAME,
    PASSED,
    champion,
    register,
    tags,
    tracking_uri,
)

WRITES = ("set_model_version_tag", "set_registered_model_alias", "delete_registered_model_alias")


def test_a_promotion_is_requested_then_completed(store: Path) -> None:
    pending = aliases.request_promotion(NAME, "2", "alice", "better", {"auc": 0.8})
    assert champion() == "1"  # nothing that serves or scores has moved
    assert aliases.pending_move(NAME) == pending
    move = aliases.complete_move(pending)
    assert (move.from_version, move.to_version, champion()) == ("1", "2", "2")
    assert aliases.pending_move(NAME) is None
    assert tags("2")["previous_champion"] == "1"
    assert tags("1")["replaced_by_version"] == "2"
    # Completing again (a retry after the alias moved) changes nothing.
    again = aliases.promote(NAME, "2", "alice", "better", {})
    assert (again.to_version, tags("2")["previous_champion"]) == ("2", "1")


def test_a_rollback_request_replaces_a_pending_promotion(store: Path) -> None:
    aliases.complete_move(aliases.request_promotion(NAME, "2", "alice", "better", {}))
    register(aliases.version_by_alias(NAME, aliases.CHAMPION).source, PASSED)  # v3
    aliases.request_promotion(NAME, "3", "alice", "newer", {})
    rollback = aliases.request_rollback(NAME, "bob", "bad week")
    assert (rollback.kind, rollback.version, rollback.from_version) == ("rollback", "1", "2")
    assert aliases.pending_move(NAME).version == "1"
    aliases.complete_move(aliases.pending_move(NAME))
    assert champion() == "1"
    assert tags("2")["rollback_reason"] == "bad week"


def test_nothing_to_roll_back_is_a_clear_error(store: Path) -> None:
    with pytest.raises(aliases.RegistryError, match="replaced no earlier champion"):
        aliases.request_rollback(NAME, "bob", "why")


@pytest.mark.parametrize(
    ("tags_", "eligible", "why"),
    [
        ({}, False, "never judged"),
        ({"gate_outcome": "rejected", "gate_all_passed": "false"}, False, "rejected"),
        ({"gate_outcome": "dry_run_reject"}, False, "dry_run_reject"),
        ({"gate_outcome": "forced", "gate_all_passed": "false"}, False, "forced"),
        ({"gate_outcome": "forced", "gate_all_passed": "true"}, True, "every criterion"),
        ({"gate_outcome": "dry_run_pass"}, True, "every criterion"),  # before gate_all_passed
        ({**PASSED, "rolled_back_at": "2026-12-01"}, False, "rolled back"),
    ],
)
def test_only_a_gate_passed_challenger_may_take_traffic(
    tags_: dict, eligible: bool, why: str
) -> None:
    verdict, reason = aliases.traffic_eligibility(tags_)
    assert verdict is eligible and why in reason


def _write_then_die(uri: str, kill_after: int, action: str) -> None:
    """In a forked child: count the real client's registry writes and SIGKILL this process
    right after the ``kill_after``-th one returns (the store really has it), then run
    ``action``. Nothing is simulated: the writes go to the SQLite store on disk."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    done = [0]
    for method in WRITES:
        original = getattr(MlflowClient, method)

        def counted(self, *args, _original=original, **kwargs):
            result = _original(self, *args, **kwargs)
            done[0] += 1
            if done[0] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(MlflowClient, method, counted)
    if action == "promote":
        aliases.promote(NAME, "2", "alice", "better", {"auc": 0.8})
    else:
        aliases.rollback(NAME, "bob", "bad week")
    os._exit(0)


def _killed_after(home: Path, writes: int, action: str) -> int | None:
    # fork: the child starts with MLflow imported (a fresh interpreter takes seconds per kill).
    child = multiprocessing.get_context("fork").Process(
        target=_write_then_die, args=(tracking_uri(home), writes, action)
    )
    child.start()
    child.join(120)
    return child.exitcode


@pytest.mark.faults
@pytest.mark.parametrize("writes", range(1, 9))
def test_a_promotion_killed_after_any_write_is_completed_by_the_retry(
    store: Path, writes: int
) -> None:
    """promote() writes 7 tags and the alias; killed after each write in turn, the alias has
    either not moved (the retry completes it) or moved with its whole history written."""
    code = _killed_after(store, writes, "promote")
    assert code in (-signal.SIGKILL, 0), code
    if champion() == "2":
        assert tags("2")["previous_champion"] == "1", "alias moved before the history"
    else:
        assert champion() == "1"
        aliases.promote(NAME, "2", "alice", "better", {"auc": 0.8})  # the retry
    assert champion() == "2" and tags("2")["previous_champion"] == "1"
    aliases.rollback(NAME, "bob", "bad week")  # and the rollback still knows where to go
    assert champion() == "1"


@pytest.mark.faults
@pytest.mark.parametrize("writes", range(1, 6))
def test_a_rollback_killed_after_any_write_is_completed_by_the_retry(
    store: Path, writes: int
) -> None:
    aliases.promote(NAME, "2", "alice", "better", {})
    code = _killed_after(store, writes, "rollback")
    assert code in (-signal.SIGKILL, 0), code
    if champion() == "1":
        assert tags("2").get("rollback_reason") == "bad week", "alias moved before the record"
    else:
        assert champion() == "2"
        aliases.rollback(NAME, "bob", "bad week")
    assert champion() == "1" and tags("2")["rollback_reason"] == "bad week"


def test_a_retried_registration_in_one_run_registers_once(store: Path) -> None:
    """A promotion_decision that registered its model and then failed is retried by the step
    policy: the retry must not register a second version of the same model."""
    from mlflow import MlflowClient

    uri = aliases.version_by_alias(NAME, aliases.CHAMPION).source
    tags = {"family": "logreg", aliases.RUN_TAG: "run-1"}
    first = aliases.register_challenger(uri, NAME, tags)
    assert aliases.register_challenger(uri, NAME, tags) == first
    versions = MlflowClient().search_model_versions(f"name = '{NAME}'")
    assert sum(v.source == uri and v.tags.get(aliases.RUN_TAG) == "run-1" for v in versions) == 1
    # Another run (or no run) registering the same model is a new version, as before.
    assert aliases.register_challenger(uri, NAME, {**tags, aliases.RUN_TAG: "run-2"}) != first
