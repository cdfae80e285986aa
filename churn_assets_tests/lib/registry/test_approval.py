"""Human approval on a real MLflow registry: a candidate the gate passed in `approve` mode
waits; a named approver with a comment moves it towards champion (a requested move, completed
by churn_bento as any promotion), or rejects it; an unlisted approver is refused; a request
expires; a newer candidate supersedes an older one. Every outcome is a tag on the version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from churn_assets.lib.registry import aliases, approval
from churn_assets.lib.registry.gate import Criterion, decide
from churn_assets_tests.lib.registry.registry_store import (
    NAME,
    PASSED,
    champion,
    register,
    tags,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _wait(version: str = "2", at: datetime = T0, ttl: float = 24.0) -> approval.ApprovalRequest:
    request, _ = approval.request_approval(NAME, version, "gate-runner", ttl, {"auc": 0.81}, now=at)
    return request


def test_approve_mode_waits_for_a_person_when_every_criterion_passes() -> None:
    passed = [Criterion("min_roc_auc", True, 0.8, 0.7, "ok")]
    waiting = decide(passed, "approve")
    assert (waiting.outcome, waiting.promote) == ("pending_approval", False)
    rejected = decide([Criterion("min_roc_auc", False, 0.6, 0.7, "low")], "approve")
    assert (rejected.outcome, rejected.promote) == ("rejected", False)


def test_an_approved_candidate_is_requested_as_champion_with_who_and_why(store: Path) -> None:
    request = _wait()
    assert approval.awaiting(NAME, now=T0 + timedelta(hours=1)) == request
    assert aliases.pending_move(NAME) is None  # nothing moves before a person says so

    answer = approval.decide(
        NAME, "approve", "alice", "fair and better", allowed=["alice"], now=T0 + timedelta(hours=2)
    )
    move = aliases.pending_move(NAME)
    assert move is not None and move == answer.move
    assert (move.version, move.actor, champion()) == ("2", "alice", "1")
    assert move.evidence["approval"]["by"] == "alice"
    recorded = tags("2")
    assert recorded["approval_outcome"] == "approved"
    assert (recorded["approval_by"], recorded["approval_comment"]) == ("alice", "fair and better")
    assert approval.awaiting(NAME, now=T0 + timedelta(hours=3)) is None
    # churn_bento completes the move as any promotion, naming the approver.
    assert aliases.complete_move(move).to_version == "2"
    assert tags("2")["promoted_by"] == "alice"


def test_a_rejected_candidate_moves_nothing(store: Path) -> None:
    _wait()
    answer = approval.decide(NAME, "reject", "bob", "segment looks off", allowed=[], now=T0)
    assert answer.move is None
    assert aliases.pending_move(NAME) is None and champion() == "1"
    assert tags("2")["approval_outcome"] == "rejected"
    with pytest.raises(approval.ApprovalError, match="already rejected by bob"):
        approval.decide(NAME, "approve", "alice", "changed my mind", version="2", allowed=[])


def test_an_unlisted_approver_and_an_empty_comment_are_refused(store: Path) -> None:
    _wait()
    with pytest.raises(approval.ApprovalError, match="'mallory' is not an allowed approver"):
        approval.decide(NAME, "approve", "mallory", "ok", allowed=["alice", "bob"], now=T0)
    with pytest.raises(approval.ApprovalError, match="approver's name and a comment"):
        approval.decide(NAME, "approve", "alice", "  ", allowed=["alice"], now=T0)
    assert "approval_outcome" not in tags("2")  # refusals record nothing; it still waits
    assert approval.awaiting(NAME, now=T0) is not None


def test_the_allowed_approvers_come_from_the_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(approval.APPROVERS_ENV_VAR, " alice, bob ,,")
    assert approval.allowed_approvers() == ["alice", "bob"]
    monkeypatch.delenv(approval.APPROVERS_ENV_VAR)
    assert approval.allowed_approvers() == []


def test_a_request_expires_and_can_no_longer_be_approved(store: Path) -> None:
    _wait(ttl=24.0)
    late = T0 + timedelta(hours=24, seconds=1)
    with pytest.raises(approval.ApprovalError, match=r"no candidate .* is waiting"):
        approval.decide(NAME, "approve", "alice", "sorry, late", allowed=[], now=late)
    recorded = tags("2")
    assert recorded["approval_outcome"] == "expired"
    assert "not decided by 2026-12-02T09:00:00+00:00" in recorded["approval_comment"]
    assert aliases.pending_move(NAME) is None and champion() == "1"


def test_a_newer_candidate_supersedes_the_waiting_one(store: Path) -> None:
    _wait("2")
    v3 = register(aliases.version_by_alias(NAME, aliases.CHAMPION).source, PASSED)
    _, superseded = approval.request_approval(NAME, v3, "gate-runner", 24, {}, now=T0)
    assert (superseded, approval.awaiting(NAME, now=T0).version) == ("2", v3)
    assert tags("2")["approval_outcome"] == "superseded"
    with pytest.raises(approval.ApprovalError, match=f"v{v3} is"):
        approval.decide(NAME, "approve", "alice", "the old one", version="2", allowed=[], now=T0)
    assert approval.decide(NAME, "approve", "alice", "ok", allowed=[], now=T0).move.version == v3
