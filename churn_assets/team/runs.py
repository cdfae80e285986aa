"""Runs on a Dagster instance the daemon serves: submit to the queue, follow, summarise.

Submitting goes through ``dagster job launch`` (the instance's run coordinator queues the run
and the daemon launches it, as the UI and the sensors do), never by executing in this process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


class RunError(RuntimeError):
    """A run could not be submitted, or did not succeed (the message says where to look)."""


def launch(
    job: str,
    env: dict[str, str],
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
) -> str:
    """Queue one run of ``job`` on the instance of ``env['DAGSTER_HOME']``; its run id."""
    run_id = str(uuid.uuid4())
    command = [
        *(str(Path(sys.executable).with_name("dagster")), "job", "launch"),
        *("-w", str(REPO / "workspace.yaml"), "-j", job, "--run-id", run_id),
        *(("--tags", json.dumps(tags)) if tags else ()),
        *(("--config-json", json.dumps(run_config)) if run_config else ()),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, check=False)
    if done.returncode:
        raise RunError(f"dagster job launch {job} failed:\n{done.stderr[-3000:]}")
    log.info("queued %s (run %s)", job, run_id[:8])
    return run_id


def wait(instance: Any, run_id: str, timeout: float = 3600, progress: bool = True) -> Any:
    """Follow a run until it ends, logging each finished step; the finished run.

    Raises:
        RunError: when it does not succeed, or is still going after ``timeout`` seconds.
    """
    import dagster as dg

    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    started = time.monotonic()
    while True:
        run = instance.get_run_by_id(run_id)
        if progress:
            events = instance.get_records_for_run(
                run_id, of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
            ).records
            for record in events:
                event = record.event_log_entry.dagster_event
                if event.step_key not in seen:
                    seen.add(event.step_key)
                    verdict = "done" if event.is_step_success else "FAILED"
                    log.info(
                        "[%4.0f s] %-28s %s", time.monotonic() - started, event.step_key, verdict
                    )
        if run is not None and run.is_finished:
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise RunError(
                    f"run {run_id} of {run.job_name} ended {run.status.value}: open it in the "
                    "Dagster UI (Runs) for the failed step's logs"
                )
            return run
        if time.monotonic() > deadline:
            raise RunError(
                f"run {run_id} still {run.status.value if run else '?'} after {timeout:.0f} s"
            )
        time.sleep(2)
