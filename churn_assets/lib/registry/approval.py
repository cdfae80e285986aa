"""Human approval of a candidate the gate passed (gate mode ``approve``).

In ``approve`` mode a candidate that passes every criterion is not promoted by the gate: it
waits for a person. :func:`request_approval` records the request on the model version (tag
``approval_request``: when, until when, the decision's evidence) and points the alias
``awaiting_approval`` at it; a newer request supersedes an older one (recorded on the older
version). :func:`decide` is the approver's answer, with a name and a comment (both required),
refused for an approver not in ``CHURN_APPROVERS`` when that list is set:

- approved: the move of ``champion`` is *requested* (``aliases.request_promotion``), and
  ``churn_bento`` completes it once the bento is built, as for any promotion;
- rejected: nothing moves; the champion keeps serving.

A request expires ``approval_ttl_hours`` after it was made (``GatePolicy``): it can no longer
be approved, and the first look at it after that (an approval attempt, the next gate run,
``make status``) records the outcome ``expired``. Every outcome is a tag on the version
(``approval_outcome``, ``approval_by``, ``approval_at``, ``approval_comment``), so the
registry holds the whole history; the model card gets the approval as its last section.

Who may approve is checked by name only: open-source Dagster does not authenticate the person
launching a run, so the name is asserted, and recorded. Put the webserver behind your single
sign-on (or use Dagster+ role-based access) when the name must be proven (docs/operations.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from churn_assets.lib.registry import aliases

AWAITING = "awaiting_approval"  # alias: the candidate waiting for a person
REQUEST_TAG = "approval_request"
OUTCOME_TAG = "approval_outcome"  # approved | rejected | expired | superseded
PENDING_OUTCOME = "pending_approval"  # the gate's outcome in approve mode, criteria passed
APPROVERS_ENV_VAR = "CHURN_APPROVERS"  # comma-separated names; empty: anyone may approve

Verdict = Literal["approve", "reject"]
OUTCOMES = {"approve": "approved", "reject": "rejected"}


class ApprovalError(RuntimeError):
    """An approval cannot be given (nothing waits, wrong version, expired, not allowed)."""


def allowed_approvers(raw: str | None = None) -> list[str]:
    """The names allowed to decide (``CHURN_APPROVERS``, deployment configuration, not run
    configuration, so the person approving cannot widen it); empty means anyone."""
    raw = os.environ.get(APPROVERS_ENV_VAR, "") if raw is None else raw
    return [name.strip() for name in raw.split(",") if name.strip()]


@dataclass(frozen=True)
class ApprovalRequest:
    """A candidate waiting for a person."""

    name: str
    version: str
    requested_at: str
    expires_at: str
    requested_by: str  # who ran the gate
    champion: str | None  # the champion when the request was made
    evidence: dict

    def expired(self, now: datetime) -> bool:
        """Whether the request can no longer be approved at ``now``."""
        return now >= datetime.fromisoformat(self.expires_at)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _record(name: str, version: str, outcome: str, by: str, comment: str, at: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in {
        "approval_by": by,
        "approval_at": at,
        "approval_comment": comment[:5000],
        OUTCOME_TAG: outcome,  # the outcome last: its presence means the record is whole
    }.items():
        client.set_model_version_tag(name, version, key, value)


def _drop_alias(name: str, version: str) -> None:
    from mlflow import MlflowClient

    current = aliases.version_by_alias(name, AWAITING)
    if current is not None and str(current.version) == str(version):
        MlflowClient().delete_registered_model_alias(name, AWAITING)


def request_approval(
    name: str,
    version: str,
    requested_by: str,
    ttl_hours: float,
    evidence: dict,
    *,
    now: datetime | None = None,
) -> tuple[ApprovalRequest, str | None]:
    """Make ``version`` the candidate waiting for approval; returns the request and the
    version it superseded (or ``None``)."""
    from mlflow import MlflowClient

    at = now or _now()
    earlier = awaiting(name, now=at)
    superseded = None
    if earlier is not None and earlier.version != str(version):
        _record(
            name,
            earlier.version,
            "superseded",
            requested_by,
            f"superseded by v{version}",
            at.isoformat(),
        )
        superseded = earlier.version
    champion = aliases.version_by_alias(name, aliases.CHAMPION)
    request = ApprovalRequest(
        name=name,
        version=str(version),
        requested_at=at.isoformat(),
        expires_at=(at + timedelta(hours=ttl_hours)).isoformat(),
        requested_by=requested_by,
        champion=str(champion.version) if champion is not None else None,
        evidence=evidence,
    )
    record = {k: v for k, v in request.__dict__.items() if k != "name"}
    client = MlflowClient()
    client.set_model_version_tag(name, str(version), REQUEST_TAG, json.dumps(record)[:5000])
    client.set_registered_model_alias(name, AWAITING, str(version))
    return request, superseded


def _read_request(name: str, version: object) -> ApprovalRequest | None:
    raw = (getattr(version, "tags", None) or {}).get(REQUEST_TAG)
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        record = None
    if not record:
        return None
    return ApprovalRequest(
        name=name,
        version=str(getattr(version, "version", record.get("version", ""))),
        requested_at=record.get("requested_at", ""),
        expires_at=record.get("expires_at", ""),
        requested_by=record.get("requested_by", "unknown"),
        champion=record.get("champion"),
        evidence=record.get("evidence") or {},
    )


def awaiting(name: str, *, now: datetime | None = None) -> ApprovalRequest | None:
    """The candidate waiting for approval, or ``None``. An expired request found here is
    recorded as ``expired`` (and stops waiting) on the way."""
    version = aliases.version_by_alias(name, AWAITING)
    if version is None:
        return None
    request = _read_request(name, version)
    at = now or _now()
    if request is None or request.expired(at):
        why = "request unreadable" if request is None else f"not decided by {request.expires_at}"
        _record(name, str(version.version), "expired", "platform", why, at.isoformat())
        _drop_alias(name, str(version.version))
        return None
    return request


@dataclass(frozen=True)
class Approval:
    """A person's answer to an approval request."""

    request: ApprovalRequest
    verdict: Verdict
    approver: str
    comment: str
    at: str
    move: aliases.PendingMove | None  # the requested champion move, when approved

    @property
    def outcome(self) -> str:
        """``approved`` or ``rejected``."""
        return OUTCOMES[self.verdict]


def decide(
    name: str,
    verdict: Verdict,
    approver: str,
    comment: str,
    *,
    version: str = "",
    allowed: list[str] | None = None,
    now: datetime | None = None,
) -> Approval:
    """Approve or reject the candidate waiting for approval.

    Args:
        version: the version the approver means (refused when another one waits); empty:
            whichever waits.
        allowed: who may decide (default :func:`allowed_approvers`); empty: anyone.

    Raises:
        ApprovalError: no name or comment, an approver not allowed, nothing waiting (never
            requested, already decided, or expired: then recorded as such), another version
            waiting than ``version``.
    """
    approver, comment = approver.strip(), comment.strip()
    if not approver or not comment:
        raise ApprovalError(
            "an approval needs the approver's name and a comment (config `approver` and "
            "`comment`): they are recorded on the model version and in the model card"
        )
    allowed = allowed_approvers() if allowed is None else allowed
    if allowed and approver not in allowed:
        raise ApprovalError(
            f"{approver!r} is not an allowed approver; {APPROVERS_ENV_VAR} lists: "
            f"{', '.join(allowed)}"
        )
    at = now or _now()
    request = awaiting(name, now=at)
    if request is None:
        raise ApprovalError(_nothing_waiting(name, version))
    if version and str(version) != request.version:
        raise ApprovalError(
            f"v{version} of {name!r} is not the candidate waiting for approval; "
            f"v{request.version} is (requested {request.requested_at}): leave `version` empty "
            "or name that one"
        )
    move = None
    if verdict == "approve":
        move = aliases.request_promotion(
            name,
            request.version,
            approver,
            f"approved by {approver}: {comment}",
            {**request.evidence, "approval": {"by": approver, "at": at.isoformat()}},
        )
    _record(name, request.version, OUTCOMES[verdict], approver, comment, at.isoformat())
    _drop_alias(name, request.version)
    return Approval(request, verdict, approver, comment, at.isoformat(), move)


def _nothing_waiting(name: str, version: str) -> str:
    """Why nothing can be decided: names the version's recorded outcome when there is one."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    base = f"no candidate of {name!r} is waiting for approval"
    if version:
        try:
            tags = MlflowClient().get_model_version(name, str(version)).tags or {}
        except MlflowException:
            return f"{base}: {name!r} has no version {version}"
        outcome = tags.get(OUTCOME_TAG)
        if outcome:
            return (
                f"{base}: v{version} was already {outcome} by {tags.get('approval_by', '?')} "
                f"at {tags.get('approval_at', '?')} ({tags.get('approval_comment', '')}); "
                "run churn_pipeline with the gate in approve mode to judge a new candidate"
            )
    return f"{base}: run churn_pipeline with the gate in `approve` mode to request one"
