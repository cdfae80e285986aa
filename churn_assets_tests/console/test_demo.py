"""`python -m churn_assets.console demo` (what `make demo` runs) as a person sees it: one line
per finished step and a summary whose numbers are the asset metadata in the instance, no
DEBUG line on stdout, every step in its own process; a failing run ends with the failed step,
its cause and the log; `status` reads the same instance and registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from churn_assets.lib.console.facts import markdown_rows
from churn_assets.lib.console.progress import count
from churn_assets_tests.conftest import REPO_ROOT

FAST_TUNING = {"n_trials": 2, "timeout_s": 30, "cv_folds": 2}
FAMILIES = ("logreg", "random_forest", "xgboost", "lightgbm")
# A tiny sample's fairness gaps and test AUC are noise: loose limits let the gate promote, so
# the run succeeds and builds the bento (the gate's own criteria are tested in registry/).
CONFIG = {
    "ops": {
        **{f"tuned_{f}": {"config": FAST_TUNING} for f in FAMILIES},
        "fairness_report": {
            "config": {
                "max_equal_opportunity_difference": 1.0,
                "max_demographic_parity_difference": 1.0,
                "max_equalized_odds_difference": 1.0,
            }
        },
        "promotion_decision": {"config": {"min_roc_auc": 0.5, "min_pr_auc_lift": 1.0}},
    }
}
DATA = "sim://?customers=600&months=1&seed=3"


def home_env(home: Path, data_uri: str, **extra: str) -> dict[str, str]:
    """A fresh platform home, as `make demo` prepares one."""
    (home / "dagster").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "CHURN_LOG_LEVEL"}
    return {
        **env,
        "CHURN_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "CHURN_DATA_URI": data_uri,
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def console(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "churn_assets.console", *args]
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One whole churn_pipeline run through the entry point; its output and its instance."""
    home = tmp_path_factory.mktemp("console") / "home"
    env = home_env(home, DATA)
    done = console(env, "demo", "--config-json", json.dumps(CONFIG))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_records(dg.RunsFilter(job_name="churn_pipeline"))[0]
            records = instance.get_records_for_run(run.dagster_run.run_id, limit=5000).records
    entries = [r.event_log_entry for r in records]
    metadata = {}
    for entry in entries:
        if entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            mat = entry.dagster_event.event_specific_data.materialization
            metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    yield {"done": done, "env": env, "run": run, "entries": entries, "metadata": metadata}


def value_of(stdout: str, label: str) -> str:
    """What the summary shows after ``label`` (its first line with that label)."""
    # Labels are padded to their column: two spaces at least end one ("decision" is not
    # "decision threshold").
    found = re.search(rf"^  {re.escape(label)}\s{{2,}}(\S.*)$", stdout, re.M)
    if found:
        return found.group(1).strip()
    raise AssertionError(f"no {label!r} line in:\n{stdout}")


@pytest.mark.slow
def test_progress_lines_and_no_debug_on_stdout(demo: dict[str, Any]) -> None:
    out = demo["done"].stdout
    assert "DEBUG" not in out
    assert not re.search(r"STEP_WORKER_START|HANDLED_OUTPUT|RESOURCE_INIT", out)
    steps = re.findall(r"^\[\s*(\d+)/(\d+) .*?\] (\S+)", out, flags=re.M)
    assert [int(i) for i, _, _ in steps] == list(range(1, len(steps) + 1))
    assert {int(total) for _, total, _ in steps} == {len(steps)}
    started = [e for e in demo["entries"] if e.dagster_event_type == dg.DagsterEventType.STEP_START]
    assert {key for _, _, key in steps} == {e.step_key for e in started}
    # Every step ran in its own process (the multiprocess executor, as the product claims).
    assert len({e.dagster_event.pid for e in started}) == len(started) >= 20
    # The step's key number is its metadata's.
    tuned = demo["metadata"]["tuned_logreg"]
    line = next(ln for ln in out.splitlines() if "] tuned_logreg " in ln)
    assert f"best CV AUC {tuned['best_cv_roc_auc']:.4f}" in line


@pytest.mark.slow
def test_the_summary_is_the_asset_metadata(demo: dict[str, Any]) -> None:
    out, meta = demo["done"].stdout, demo["metadata"]
    valid = meta["validated_customers"]
    assert value_of(out, "rows in") == count(valid["rows_received"])
    assert value_of(out, "validated") == count(valid["rows_valid"])
    assert value_of(out, "quarantined").startswith(count(valid["rows_quarantined"]))
    for reason in markdown_rows(meta["quarantined_customers"]["reasons"])[:3]:
        assert re.search(rf"^\s+{reason['rows']}\s+{re.escape(reason['problem'])}$", out, re.M)
    candidate = meta["champion_candidate"]
    for row in markdown_rows(candidate["leaderboard"]):
        cv, validation = float(row["cv_roc_auc"]), float(row["roc_auc"])
        assert re.search(rf"^\s+{row['family']}\s+{cv:.4f}\s+{validation:.4f}", out, re.M)
    assert f"{candidate['family']}  <- chosen" not in out  # the mark follows the numbers
    assert re.search(rf"^\s+{candidate['family']}\s+\S+\s+\S+\s+<- chosen$", out, re.M)
    metrics = {r["metric"]: r for r in markdown_rows(meta["evaluation_report"]["metrics"])}
    roc = metrics["roc_auc"]
    assert value_of(out, "ROC-AUC") == (
        f"{float(roc['value']):.4f} [{float(roc['ci_low']):.4f}, {float(roc['ci_high']):.4f}]"
    )
    decision = meta["promotion_decision"]
    assert value_of(out, "decision").startswith(decision["outcome"].upper())
    assert value_of(out, "reason") == decision["reason"]
    bento = meta["churn_bento"]
    assert value_of(out, "bento").startswith(bento["bento_tag"])
    assert bento["bento_tag"] in value_of(out, "serve")
    assert value_of(out, "champion").startswith(f"v{bento['champion_version']}")
    assert Path(meta["eda_report"]["report"]).name in value_of(out, "EDA report")
    assert value_of(out, "evaluation report").endswith("evaluation.html")
    assert value_of(out, "model card").endswith("model_card.html")
    assert demo["run"].dagster_run.run_id in value_of(out, "Dagster UI")
    assert out.splitlines()[0].startswith("churn_pipeline: every step in its own process")


@pytest.mark.slow
def test_status_shows_the_champion_and_the_last_run(demo: dict[str, Any]) -> None:
    done = console(demo["env"], "status", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    bento = demo["metadata"]["churn_bento"]
    champion = value_of(done.stdout, "champion")
    assert champion.startswith(f"v{bento['champion_version']}  {bento['family']}  test ROC-AUC")
    assert f"{demo['metadata']['evaluation_report']['test_roc_auc']:.4f}" in champion
    run_id = demo["run"].dagster_run.run_id
    assert re.search(rf"churn_pipeline\s+SUCCESS .*\(run {run_id[:8]}\)", done.stdout)
    assert re.search(r"ingest_batch\s+never run", done.stdout)
    assert "no month judged yet" in done.stdout


def test_a_failing_run_ends_with_its_step_cause_and_log(tmp_path: Path) -> None:
    """A file without the contract's columns: the blocking check stops the run at once (a
    missing file would do too, but its observation is retried for ~a minute first)."""
    landing = tmp_path / "landing" / "customers.csv"
    landing.parent.mkdir()
    landing.write_text("customerID,gender\n")
    env = home_env(tmp_path / "home", str(landing), CHURN_LOG_LEVEL="debug")
    done = console(env, "demo", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    text = "\n".join(done.stdout.strip().splitlines()[-12:])
    assert re.search(r"failed step\s+raw_customers_required_columns_present$", text, re.M), text
    cause = value_of(text, "cause")
    assert "required_columns_present failed: missing required column(s)" in cause
    assert "'tenure'" in cause
    assert "not run" in text
    log = Path(value_of(text, "full log"))  # absolute: the home is outside the working dir
    assert log.is_file() and "STEP_FAILURE" in log.read_text()
    # CHURN_LOG_LEVEL=debug: Dagster's event log at DEBUG on stderr, stdout still for people.
    assert "DEBUG" in done.stderr and "STEP_WORKER_STARTED" in done.stderr
    assert "DEBUG" not in done.stdout
