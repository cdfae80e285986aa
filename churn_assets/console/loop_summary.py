"""What a closed-loop scenario concluded, read back from the instance, and how it is printed:
the verdicts the feeder (`churn_assets.scenario`) checks and prints, apart from the feeder
itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from churn_assets.defs.monitoring.sensors import TRIGGER_TAG
from churn_assets.lib import settings
from churn_assets.lib.console.loop import render_loop

SCENARIO = "scenario"  # the trigger tag of the runs the feeder launches itself


def failed_run(record: dg.RunRecord) -> bool:
    return record.dagster_run.status == dg.DagsterRunStatus.FAILURE


def verdicts(instance: dg.DagsterInstance) -> dict[str, Any]:
    """What the loop concluded, from the event log and the run history."""

    def latest(asset: str) -> dict[str, dict[str, Any]]:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
        out: dict[str, dict[str, Any]] = {}
        for record in sorted(records, key=lambda r: r.storage_id):
            metadata = record.asset_materialization.metadata
            out[record.partition_key or ""] = {k: v.value for k, v in metadata.items()}
        return out

    runs = instance.get_run_records()
    failed = [r for r in runs if failed_run(r)]
    decision = latest("promotion_decision").get("", {})
    return {
        "drift": {
            month: {"breached": bool(m.get("breached")), "model_version": m.get("model_version")}
            for month, m in sorted(latest("drift_report").items())
        },
        "triggered": sorted(
            f"{r.dagster_run.job_name}:{r.dagster_run.tags[TRIGGER_TAG]}"
            for r in runs
            if r.dagster_run.tags.get(TRIGGER_TAG, SCENARIO) != SCENARIO
        ),
        "promotion": {k: decision.get(k) for k in ("outcome", "champion_before", "champion_after")},
        "bento": latest("churn_bento").get("", {}).get("bento_tag"),
        "runs": {"total": len(runs), "failed": len(failed)},
    }


def last_training(instance: dg.DagsterInstance) -> list[str]:
    """The result summary of the newest churn_pipeline run (as `make demo` prints it)."""
    from churn_assets.console.demo import LOCAL_UI, complete
    from churn_assets.lib.console.summary import render

    newest = instance.get_run_records(dg.RunsFilter(job_name="churn_pipeline"), limit=1)
    if not newest:
        return []
    return render(complete(instance, newest[0].dagster_run.run_id, settings.churn_home(), LOCAL_UI))


def report(summary: dict[str, Any], training: list[str], home: Path) -> None:
    """For a person (a terminal on stdout): the loop's verdicts and the newest training's
    summary, the JSON in a file. For a program (stdout captured): the JSON on stdout, as
    before, and the text on stderr."""
    path = home / "loop_summary.json"
    text = json.dumps(summary, indent=2) + "\n"
    path.write_text(text)
    human = "\n".join([*render_loop(summary), "", *training, "", f"As JSON: {path}"]) + "\n"
    if sys.stdout.isatty():
        sys.stdout.write(human)
    else:
        sys.stdout.write(text)
        sys.stderr.write(human)
    sys.stdout.flush()
