"""The closed-loop scenario on the real Dagster daemon: a feeder that lands simulated months
one at a time and lets `dagster-daemon run` do everything else. (The feeder and its
daemon; what the loop concluded and how it is printed is `churn_assets.console.loop_summary`.)
With ``--external-daemon`` it plays on a running stack (the team stack: months land in the
bucket, ``CHURN_DATA_URI=s3://...``) instead of starting its own daemon.

    python -m churn_assets.scenario [--customers 5000] [--months 6] [--initial 3]

`make loop` runs it in `.churn-loop`, `benchmarks/closed_loop.py` in a temporary home; both
set ``DAGSTER_HOME`` (holding the repository's ``dagster.yaml``), ``CHURN_HOME`` and
``CHURN_DATA_URI`` (the landing folder). The feeder

1. simulates the months: covariate and concept drift from month ``--drift-from`` (0-based);
2. starts the daemon on ``workspace.yaml`` (log in ``CHURN_HOME/daemon.log``) with every
   sensor ticking every 5 s (``CHURN_SENSOR_INTERVAL_SECONDS``) and waits until it is live;
3. lands the first ``--initial`` months and launches `churn_pipeline` on them, the way the
   UI's Launch button does (``dagster job launch``): the first champion;
4. lands each next month once the previous one's drift report is in the event log and
   nothing has run for a few sensor intervals (so the trigger has had its say); a phase in
   which no run logs anything for ``--timeout`` seconds fails, naming the active runs;
5. stops the daemon, prints the phases, verdicts and newest training's summary (JSON on a
   non-terminal stdout, also in ``CHURN_HOME/loop_summary.json``), and exits non-zero naming
   what did not happen (`lib/monitoring/loop_expectations.py`).
It never ticks a sensor, evaluates automation or launches a monitoring run itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from churn_assets.console.loop_summary import SCENARIO, failed_run, last_training, report, verdicts
from churn_assets.defs.monitoring.sensors import TRIGGER_TAG
from churn_assets.lib import settings
from churn_assets.lib.console.loop import phase_line
from churn_assets.lib.ingestion.months import month_of
from churn_assets.lib.monitoring.config import SENSOR_INTERVAL_ENV_VAR, sensor_interval_seconds
from churn_assets.lib.monitoring.loop_expectations import unmet

log = logging.getLogger("churn_assets.scenario")
REPO = Path(__file__).resolve().parent.parent
ACTIVE = [
    dg.DagsterRunStatus[s] for s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
]


# What the daemon of a loop runs with: sensors every 5 s, a simulated month lands whole (no
# settle time), no cooldown between retrainings, one thread per model (two cores). A daemon
# the feeder does not start itself (--external-daemon, the team stack's) must get these too.
LOOP_SETTINGS = {
    SENSOR_INTERVAL_ENV_VAR: "5",
    "CHURN_MONITORING_SETTLE_SECONDS": "0",
    "CHURN_MONITORING_RETRAIN_COOLDOWN_HOURS": "0",
    "OMP_NUM_THREADS": "1",
}


def loop_home(home: Path) -> dict[str, str]:
    """Prepare ``home`` as a loop's own platform home (its Dagster instance holding the
    repository's ``dagster.yaml``) and return the environment variables that point at it."""
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster" / "dagster.yaml")
    return {
        settings.HOME_ENV_VAR: str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        settings.DATA_URI_ENV_VAR: str(home / "landing"),
    }


class ScenarioError(RuntimeError):
    """The loop did not get where the scenario expects it to."""


def scenario_months(
    folder: Path, n_customers: int, months: int, drift_from: int, seed: int
) -> list[Path]:
    """Simulated monthly files with covariate + concept drift from month ``drift_from``
    (0-based): a 15% price rise, 20% more month-to-month contracts, concept shift 0.6."""
    from churn_assets.lib.ingestion import simulator as sim

    drift = sim.DriftSpec(
        start_month=drift_from, price_rise=0.15, month_to_month_shift=0.2, concept_shift=0.6
    )
    config = sim.SimulatorConfig(n_customers=n_customers, months=months, seed=seed, drift=drift)
    return sim.write_monthly_files(sim.simulate(config), folder)


class Daemon:
    """`dagster-daemon run` in its own process group, stopped on exit."""

    def __init__(self, workspace: Path, log_path: Path, external: bool = False):
        self.command = [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w"]
        self.command.append(str(workspace))
        self.log_path = log_path
        self.external = external  # someone else's daemon: only wait for it, never stop it
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Daemon:
        if self.external:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        log.info("dagster-daemon started (pid %s), log in %s", self.process.pid, self.log_path)
        return self

    def wait_until_live(self, timeout: float = 180.0) -> None:
        """Until every daemon has sent a heartbeat (`dagster-daemon liveness-check`)."""
        check = [self.command[0], "liveness-check"]
        deadline = time.monotonic() + timeout
        while subprocess.run(check, capture_output=True).returncode != 0:
            if self.process is not None and self.process.poll() is not None:
                raise ScenarioError(f"dagster-daemon exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ScenarioError(f"dagster-daemon not live after {timeout:.0f} s")
            time.sleep(2)

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the daemon shuts its threads down
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        log.info("dagster-daemon stopped")


class Feeder:
    """Lands files and watches the instance; everything else is the daemon's."""

    def __init__(self, instance: dg.DagsterInstance, landing: Any, interval: int, timeout: float):
        self.instance = instance
        self.landing = landing
        self.quiet = 3 * interval  # every sensor ticks twice after the last run ended
        self.timeout = timeout
        self.phases: list[dict[str, Any]] = []

    def land(self, path: Path) -> None:
        """Atomically, so the sensor never sees half a file: a rename into a local folder, one
        PUT into a bucket (an object appears whole)."""
        if self.landing.protocol in ("", "file", "local"):
            Path(self.landing.path).mkdir(parents=True, exist_ok=True)
            path.rename(Path(self.landing.path) / path.name)
        else:
            (self.landing / path.name).write_bytes(path.read_bytes())
        log.info("landed %s in %s", path.name, self.landing)

    def launch(self, job: str, run_config: dict[str, Any] | None) -> str:
        """Submit a run to the daemon's queue, as the UI does; its run id.

        `dagster job launch`, not `dg launch`: it goes through the instance's run launcher
        (queued by its run coordinator, dequeued and run by the daemon, like every sensor
        run), while `dg launch` executes the job in this process."""
        run_id = str(uuid.uuid4())
        command = [
            *(str(Path(sys.executable).with_name("dagster")), "job", "launch"),
            *("-w", str(REPO / "workspace.yaml"), "-j", job, "--run-id", run_id),
            *("--tags", json.dumps({TRIGGER_TAG: SCENARIO})),
            *(("--config-json", json.dumps(run_config)) if run_config else ()),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode:
            raise ScenarioError(f"dagster job launch failed:\n{done.stderr[-3000:]}")
        log.info("launched %s (run %s)", job, run_id[:8])
        return run_id

    def _active(self) -> bool:
        return bool(self.instance.get_run_records(dg.RunsFilter(statuses=ACTIVE), limit=1))

    def _last_activity(self, since: float) -> float:
        newest = self.instance.get_run_records(limit=1, order_by="update_timestamp")
        return max([since, *(r.update_timestamp.timestamp() for r in newest)])

    def _runs_since(self, since: float) -> list:
        after = datetime.fromtimestamp(since, UTC)
        return self.instance.get_run_records(dg.RunsFilter(created_after=after))

    def _reported(self, month: str, since: float) -> bool:
        key = dg.AssetKey("drift_report")
        found = dg.AssetRecordsFilter(key, asset_partitions=[month], after_timestamp=since)
        return bool(self.instance.fetch_materializations(found, limit=1).records)

    def _progress(self) -> int:
        """The newest event log record's id: it moves whenever any run logs anything."""
        return self.instance.event_log_storage.get_maximum_record_id() or 0

    def _active_runs(self) -> list[str]:
        """Each active run and its newest event, for an error that says where things stand."""
        lines = []
        for record in self.instance.get_run_records(dg.RunsFilter(statuses=ACTIVE), limit=5):
            run = record.dagster_run
            found = self.instance.get_records_for_run(run.run_id, limit=1, ascending=False)
            said = [
                f"{e.event_log_entry.step_key}: {e.event_log_entry.message}" for e in found.records
            ]
            lines.append(f"{run.job_name} {run.run_id[:8]} {run.status.value} {said}"[:300])
        return lines

    def settle(self, months: list[str], since: float) -> None:
        """Until each month has a drift report newer than ``since`` and the loop is quiet.
        Quiet without a report is no failure yet (automation requests several months as a
        backfill, whose runs start a tick later); a failed run then is, and so is a stall:
        ``timeout`` seconds in which no run logged anything (a slow machine is no failure)."""
        progress, moved, began = self._progress(), time.monotonic(), time.monotonic()
        while True:
            waiting = [m for m in months if not self._reported(m, since)]
            quiet = not self._active() and time.time() - self._last_activity(since) > self.quiet
            if quiet and not waiting:
                return
            if (now := self._progress()) != progress:
                progress, moved = now, time.monotonic()
            stalled = time.monotonic() - moved > self.timeout
            failed = (
                [r.dagster_run for r in self._runs_since(since) if failed_run(r)] if quiet else []
            )
            if failed or stalled:
                raise ScenarioError(
                    f"no drift report for {waiting} after {time.monotonic() - began:.0f} s"
                    + (f" (nothing logged for {self.timeout:.0f} s)" if stalled else "")
                    + f"; failed runs: {[(r.job_name, r.run_id) for r in failed]}"
                    + f"; active runs: {self._active_runs() or 'none'}"
                )
            time.sleep(1)

    def phase(self, name: str, started: float) -> None:
        runs = self._runs_since(started)
        retrained = any(r.dagster_run.tags.get(TRIGGER_TAG) == "retrain" for r in runs)
        record = {
            "phase": name + (" (retrain)" if retrained else ""),
            "runs": len(runs),
            "failed_runs": sum(map(failed_run, runs)),
            "seconds": round(time.time() - started, 1),
        }
        self.phases.append(record)
        log.info("%s", phase_line(record))


def play(
    feeder: Feeder, months: list[Path], initial: int, run_config: dict[str, Any] | None
) -> None:
    """Land ``initial`` months and train on them, then land one month at a time."""
    started = time.time()
    for path in months[:initial]:
        feeder.land(path)
    run_id = feeder.launch("churn_pipeline", run_config)
    feeder.settle([month_of(p.name) for p in months[:initial]], started)
    run = feeder.instance.get_run_by_id(run_id)
    if run is None or run.status != dg.DagsterRunStatus.SUCCESS:
        raise ScenarioError(f"the first training (run {run_id}) did not succeed")
    feeder.phase(f"train the first champion, monitor months 1-{initial}", started)
    for index, path in enumerate(months[initial:], start=initial + 1):
        started = time.time()
        feeder.land(path)
        feeder.settle([month_of(path.name)], started)
        feeder.phase(f"month {index} lands", started)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Play the scenario (see the module docstring); returns and prints the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--initial", type=int, default=3, help="months before the first training")
    parser.add_argument("--drift-from", type=int, default=4, help="0-based month drift starts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-config", default="", help="JSON run config of the first training")
    stall = "seconds in which no run logs anything before a phase is given up"
    parser.add_argument("--timeout", type=float, default=900, help=stall)
    parser.add_argument(
        "--external-daemon",
        action="store_true",
        help="use the daemon already serving $DAGSTER_HOME (the team stack's) instead of "
        "starting one; it must have been started with the loop's sensor settings",
    )
    args = parser.parse_args(argv)
    shaping = ("customers", "months", "initial", "drift_from", "seed", "run_config")
    # Only the default scenario has known verdicts; other arguments are held to the basics.
    default_scenario = all(getattr(args, k) == parser.get_default(k) for k in shaping)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)

    for var in ("DAGSTER_HOME", settings.HOME_ENV_VAR, settings.DATA_URI_ENV_VAR):
        if not os.environ.get(var):
            parser.error(f"{var} must be set (make loop sets it)")
    if not (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").is_file():
        parser.error("$DAGSTER_HOME has no dagster.yaml: copy the repository's there")
    from upath import UPath

    home, landing = settings.churn_home(), UPath(os.environ[settings.DATA_URI_ENV_VAR])
    if landing.exists() and any(landing.iterdir()):
        parser.error(f"{landing} already has months: the scenario starts from an empty home")
    if args.external_daemon and not os.environ.get(SENSOR_INTERVAL_ENV_VAR):
        parser.error(
            f"--external-daemon: set {SENSOR_INTERVAL_ENV_VAR} to the interval that daemon was "
            "started with (the feeder waits three ticks of it for the loop to be quiet)"
        )
    # The daemon inherits these (LOOP_SETTINGS).
    for name, value in LOOP_SETTINGS.items():
        os.environ.setdefault(name, value)
    staged = home / "staged"
    shutil.rmtree(staged, ignore_errors=True)
    months = scenario_months(staged, args.customers, args.months, args.drift_from, args.seed)
    run_config = json.loads(args.run_config) if args.run_config else None

    started = time.time()
    with (
        dg.DagsterInstance.get() as instance,
        Daemon(REPO / "workspace.yaml", home / "daemon.log", args.external_daemon) as daemon,
    ):
        daemon.wait_until_live()
        # eager() ignores what landed before the automation sensor's first evaluation, which
        # is due at once: give it one interval.
        time.sleep(sensor_interval_seconds() + 2)
        feeder = Feeder(instance, landing, sensor_interval_seconds(), args.timeout)
        play(feeder, months, args.initial, run_config)
        summary = {"phases": feeder.phases, **verdicts(instance)}
        summary["total_seconds"] = round(time.time() - started, 1)
        report(summary, last_training(instance), home)
    log.info("state in %s; `make loop-ui` shows it", home)
    landed = [month_of(p.name) for p in months]
    if problems := unmet(summary, landed, landed[args.drift_from :] if default_scenario else None):
        raise SystemExit("The loop did not reach the scenario's outcome: " + "; ".join(problems))
    return summary


if __name__ == "__main__":
    main()
