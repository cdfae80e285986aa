"""Run a job for a person at the terminal: progress lines, then the result summary.

The job runs in a child process (``churn_assets.console.execute``) whose output, Dagster's
full text log, goes to ``CHURN_HOME/logs/<job>-<time>.log``; this process reads the run's
events from the instance as they are stored and prints one line per finished step. With
``CHURN_LOG_LEVEL=debug`` (or info, warning) it also prints the instance's event log at that
level on stderr. The exit code is 0 exactly when the run succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from churn_assets.console import follow as following
from churn_assets.console.events import read_run
from churn_assets.console.execute import TOKEN_TAG
from churn_assets.console.registry import DEFAULT_MODEL, mlflow_ui, tracking_uri, versions
from churn_assets.lib import settings
from churn_assets.lib.console.facts import RunFacts, StepFailure
from churn_assets.lib.console.summary import render

LOCAL_UI = "http://127.0.0.1:3000"
LOG_TAIL = 6


def say(line: str = "") -> None:
    """A line for the person at the terminal (stdout, flushed: progress must show at once)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def echo(line: str) -> None:
    """Dagster's event log at the chosen level: stderr, so stdout stays the summary."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def shown(path: str | os.PathLike[str]) -> str:
    """A path relative to the working directory when it is inside it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def links(facts: RunFacts, home: Path, ui: str, mlflow_url: str) -> dict[str, str]:
    """Where the reports, the run and the registry are."""
    out: dict[str, str] = {}
    if report := facts.assets.get("eda_report", {}).get("report"):
        out["EDA report"] = shown(report)
    evaluation = facts.assets.get("evaluation_report", {})
    if report := evaluation.get("report"):
        out["evaluation report"] = shown(report)
    if run_id := evaluation.get("mlflow_run_id"):
        from churn_assets.lib.evaluation.model_card import card_folder

        card = card_folder(home / "reports", run_id) / "model_card.html"
        if card.is_file():
            out["model card"] = shown(card)
    drift = home / "reports" / "drift"
    months = sorted(p.name for p in drift.iterdir()) if drift.is_dir() else []
    out["drift reports"] = (
        f"{shown(drift)}/<month>/drift_report.html ({', '.join(months)})"
        if months
        else "none yet: drift is judged per landed month (make loop shows it)"
    )
    out["Dagster UI"] = f"{ui}/runs/{facts.run_id}" + (" (make ui)" if ui == LOCAL_UI else "")
    out["MLflow UI"] = mlflow_url
    return out


def complete(
    instance: Any, run_id: str, home: Path, ui: str, log_path: Path | None = None
) -> RunFacts:
    """The finished run's facts, the registry's champion and challenger, links, log tail."""
    facts = read_run(instance, run_id)
    uri = tracking_uri(home)
    model = facts.assets.get("promotion_decision", {}).get("registered_model", DEFAULT_MODEL)
    facts.registry = versions(uri, model)
    facts.links = links(facts, home, ui, mlflow_ui(uri))
    if log_path is not None:
        facts.log_path = shown(log_path)
        if not facts.succeeded:
            facts.log_tail = tail(log_path)
    return facts


def tail(path: Path, lines: int = LOG_TAIL) -> list[str]:
    """The last lines of a log, each cut to one terminal line."""
    if not path.is_file():
        return []
    text = path.read_text(errors="replace").splitlines()
    return [line[:200] for line in text[-lines:]]


def _find_run(instance: Any, token: str, child: subprocess.Popen) -> str | None:
    import dagster as dg

    while True:
        found = instance.get_run_records(dg.RunsFilter(tags={TOKEN_TAG: token}), limit=1)
        if found:
            return found[0].dagster_run.run_id
        if child.poll() is not None:
            return None
        time.sleep(0.5)


def launch(job: str, run_config: dict[str, Any], log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start the child that executes ``job``; its output goes to ``log_path``."""
    token = uuid.uuid4().hex
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "churn_assets.console.execute", job]
    command += [json.dumps(run_config), token]
    with log_path.open("ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    return child, token


def run_job(
    job: str, run_config: dict[str, Any] | None = None, print_line: Callable[[str], None] = say
) -> int:
    """Run ``job`` on the instance of ``$DAGSTER_HOME``, printing progress and the summary;
    the exit code (0: the run succeeded)."""
    import dagster as dg

    level = following.log_level(os.environ.get(following.LOG_LEVEL_ENV_VAR))
    home = settings.churn_home()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_path = home / "logs" / f"{job}-{stamp}.log"
    started = time.monotonic()
    child, token = launch(job, run_config or {}, log_path)
    print_line(f"{job}: every step in its own process; Dagster's full log: {shown(log_path)}")
    try:
        with dg.DagsterInstance.get() as instance:
            run_id = _find_run(instance, token, child)
            if run_id is None:
                child.wait()
                facts = RunFacts(job=job, run_id="none", status="NOT STARTED")
                cause = next((ln for ln in reversed(tail(log_path, 40)) if ln.strip()), "")
                facts.failures = [StepFailure("(start)", cause or f"exit code {child.returncode}")]
                facts.log_path, facts.log_tail = shown(log_path), tail(log_path)
                facts.seconds = time.monotonic() - started
            else:
                print_line(f"run {run_id} started (Dagster UI: Runs)")
                following.follow(
                    instance, run_id, print_line, echo, level, alive=lambda: child.poll() is None
                )
                child.wait()
                facts = complete(instance, run_id, home, LOCAL_UI, log_path)
    except KeyboardInterrupt:
        child.wait(timeout=120)  # the child got the same Ctrl-C: Dagster ends its steps
        print_line(f"interrupted; the run's log: {shown(log_path)}")
        return 130
    print_line("")
    for line in render(facts):
        print_line(line)
    return 0 if facts.succeeded and child.returncode == 0 else 1
