"""A run's facts read back from the Dagster instance: materializations, observations, check
evaluations and step failures, with their metadata as plain values."""

from __future__ import annotations

from typing import Any

from churn_assets.lib.console.facts import Check, RunFacts, StepFailure, finding, first_line


def plain(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata values as Python values (``MetadataValue.value``)."""
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def cause(error: Any) -> tuple[str, str]:
    """The innermost error of a chain (user code raised it; Dagster wrapped it): its type
    and its message on one line, without the module path Dagster prefixes."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = " ".join(line.strip() for line in str(error.message).splitlines() if line.strip())
    name = error.cls_name or ""
    for prefix in (f"{name}: ", f"dagster._core.errors.{name}: "):
        if name and prefix in message:
            message = message.split(prefix, 1)[1]
    return name, first_line(message, 300)


def record_facts(entry: Any, facts: RunFacts) -> str | None:
    """Fold one event log entry into ``facts``; the step key when a step finished."""
    import dagster as dg

    event = entry.dagster_event
    if event is None:
        return None
    kind, data = event.event_type, event.event_specific_data
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
        mat = data.materialization
        facts.assets[mat.asset_key.to_user_string()] = plain(mat.metadata)
    elif kind == dg.DagsterEventType.ASSET_OBSERVATION:
        obs = data.asset_observation
        facts.assets.setdefault(obs.asset_key.to_user_string(), plain(obs.metadata))
    elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        facts.checks.append(
            Check(
                asset=data.asset_key.to_user_string(),
                name=data.check_name,
                passed=bool(data.passed),
                severity=str(getattr(data.severity, "value", data.severity)),
                description=data.description or "",
                metadata=plain(data.metadata),
                step=event.step_key or "",
            )
        )
    elif kind == dg.DagsterEventType.STEP_SUCCESS:
        facts.finished[event.step_key] = "succeeded"
        return event.step_key
    elif kind == dg.DagsterEventType.STEP_FAILURE:
        facts.finished[event.step_key] = "failed"
        name, why = cause(data.error) if data.error else ("", "")
        facts.failures.append(StepFailure(event.step_key, why, name))
        return event.step_key
    elif kind == dg.DagsterEventType.STEP_SKIPPED:
        facts.finished[event.step_key] = "skipped"
        return event.step_key
    elif kind == dg.DagsterEventType.RUN_FAILURE and not facts.failures:
        # No step failed: a step's process died, or the run could not go on (the error says).
        error = getattr(data, "error", None)
        name, why = cause(error) if error else ("", first_line(entry.user_message or ""))
        facts.failures.append(StepFailure("(the run)", why, name))
    return None


def gate_cause(facts: RunFacts, failure: StepFailure) -> StepFailure:
    """A step stopped by its blocking checks: name the checks and what they found."""
    failed = [
        c
        for c in facts.checks
        if not c.passed
        and c.severity == "ERROR"
        and failure.error_type.endswith("CheckFailedError")
    ]
    step_checks = [c for c in failed if failure.step.startswith(c.asset) or c.asset == failure.step]
    if not step_checks:
        return failure
    why = "; ".join(f"{c.name} failed: {finding(c)}" for c in step_checks)
    return StepFailure(failure.step, f"blocking check {why}", failure.error_type)


def steps_of(instance: Any, run: Any) -> list[str]:
    """The step keys of the run's execution plan."""
    snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return [step.key for step in snapshot.steps]


def read_run(instance: Any, run_id: str) -> RunFacts:
    """Everything the run recorded, from its event log."""
    record = instance.get_run_record_by_id(run_id)
    run = record.dagster_run
    facts = RunFacts(job=run.job_name, run_id=run_id, status=run.status.value)
    if record.start_time and record.end_time:
        facts.seconds = record.end_time - record.start_time
    facts.steps = steps_of(instance, run)
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, limit=1000)
        for item in page.records:
            record_facts(item.event_log_entry, facts)
        cursor = page.cursor
        if not page.has_more:
            break
    facts.failures = [gate_cause(facts, f) for f in facts.failures]
    return facts
