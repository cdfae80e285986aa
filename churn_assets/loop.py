"""Drive the closed loop in one process, without the Dagster daemon.

In production the daemon ticks the sensors, evaluates the automation conditions and launches
runs. For tests, benchmarks and a quick look, :class:`LoopDriver` does the same thing in
steps: tick a sensor (with its stored cursor), execute the runs it requests on the same
instance, evaluate declarative automation and execute what it requests, in dependency order.
Everything it does is recorded in the instance's event log, exactly as daemon runs are.

``python -m churn_assets.loop --months 6 --drift-from 4`` plays a simulated scenario: the
first months train a champion, then one month lands per step.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from churn_assets.defs.monitoring.assets import GROUP as MONITORING_GROUP
from churn_assets.defs.monitoring.sensors import TRIGGER_TAG
from churn_assets.lib import settings

log = logging.getLogger("churn_assets.loop")
MONITORING_ORDER = ("landed_batch", "batch_scores", "drift_report")


@dataclass
class Step:
    """What one driver call launched."""

    kind: str  # "sensor" or "automation"
    name: str
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    skip_reason: str | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)


class LoopDriver:
    """Ticks sensors and automation like the daemon, executing runs in this process.

    Args:
        instance: the Dagster instance runs and cursors live in.
        defs: the definitions (default: the project's).
        run_config_ops: extra op config for every run (e.g. a tuning budget).
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        defs: dg.Definitions | None = None,
        run_config_ops: dict[str, Any] | None = None,
    ):
        from churn_assets.definitions import defs as load_defs

        self.instance = instance
        self.defs = defs or load_defs()
        self.ops = run_config_ops or {}
        self.cursors: dict[str, str | None] = {}
        self.run_keys: set[tuple[str, str]] = set()
        self.automation_cursor: Any = None
        self._job = self.defs.resolve_implicit_global_asset_job_def()

    # ------------------------------------------------------------------ runs
    def _selection(self, job_name: str) -> list[dg.AssetKey]:
        job = self.defs.resolve_job_def(job_name)
        return sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())

    def execute(
        self,
        keys: list[dg.AssetKey],
        partition_key: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize ``keys`` (one partition) in process on the driver's instance."""
        names = {k.to_user_string() for k in keys}
        ops = {k: v for k, v in self.ops.items() if k in names}
        started = time.perf_counter()
        result = self._job.execute_in_process(
            instance=self.instance,
            asset_selection=keys,
            partition_key=partition_key,
            tags=tags or {},
            run_config={"ops": ops},
            raise_on_error=False,
        )
        log.info(
            "run %s %s%s: %s in %.1f s",
            result.run_id[:8],
            ", ".join(sorted(names)),
            f" [{partition_key}]" if partition_key else "",
            "success" if result.success else "FAILURE",
            time.perf_counter() - started,
        )
        if not result.success:
            for event in result.get_step_failure_events():
                error = event.event_specific_data.error
                cause = error.cause.to_string() if error and error.cause else str(error)
                log.warning("step %s failed: %s", event.step_key, cause[-1500:])
            for check in result.get_asset_check_evaluations():
                if not check.passed:
                    log.warning("check %s failed: %s", check.check_name, check.description)
        return result

    def run_job(self, job_name: str, partition_key: str | None = None, **tags: str):
        """Run a job's assets (a sensor's target, or churn_pipeline)."""
        return self.execute(self._selection(job_name), partition_key, tags)

    # ------------------------------------------------------------------ sensors
    def tick(self, sensor_name: str) -> Step:
        """Evaluate a sensor once with its stored cursor and execute what it requests."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            definitions=self.defs,
            sensor_name=sensor_name,
            resources=dict(self.defs.resources or {}),
        )
        # Invoked directly, the sensor returns its SensorResult unresolved, so new dynamic
        # partitions can be added before their runs are launched, in the daemon's order.
        result = sensor(context)
        cursor, requests, partitions, skip = context.cursor, [], [], None
        if isinstance(result, dg.SkipReason):
            skip = result.skip_message
        elif isinstance(result, dg.SensorResult):
            requests = list(result.run_requests or [])
            partitions = list(result.dynamic_partitions_requests or [])
            cursor = result.cursor if result.cursor is not None else cursor
            skip = result.skip_reason.skip_message if result.skip_reason else None
        elif result is not None:
            raise TypeError(f"{sensor_name} returned {type(result).__name__}; not supported here")
        self.cursors[sensor_name] = cursor
        for request in partitions:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        step = Step("sensor", sensor_name, skip_reason=skip)
        for request in requests:
            job_name = request.job_name or sensor.job_name
            if request.run_key and (sensor_name, request.run_key) in self.run_keys:
                continue  # the daemon never launches a run key twice for a sensor
            if request.run_key:
                self.run_keys.add((sensor_name, request.run_key))
            tags = {**request.tags, "dagster/sensor_name": sensor_name}
            if request.run_key:
                tags["dagster/run_key"] = request.run_key
            step.runs.append(self.run_job(job_name, request.partition_key, **tags))
        return step

    # ------------------------------------------------------------------ automation
    def automate(self, max_rounds: int = 5) -> Step:
        """Evaluate the automation conditions until nothing more is requested."""
        step = Step("automation", "monitoring_automation")
        selection = dg.AssetSelection.groups(MONITORING_GROUP)
        for _ in range(max_rounds):
            result = dg.evaluate_automation_conditions(
                defs=self.defs,
                instance=self.instance,
                asset_selection=selection,
                cursor=self.automation_cursor,
            )
            self.automation_cursor = result.cursor
            if not result.total_requested:
                break
            for name in MONITORING_ORDER:
                key = dg.AssetKey(name)
                for partition in sorted(p for p in result.get_requested_partitions(key) if p):
                    step.runs.append(
                        self.execute([key], partition, {"dagster/from_automation": "true"})
                    )
        return step

    def land(self, path: Path) -> list[Step]:
        """After a file lands: ingest it (two ticks: the landing sensor lets files settle)
        and let automation score and drift-check it."""
        steps = []
        if self.automation_cursor is None:
            steps.append(self.automate())  # the first evaluation only sets the baseline
        steps += [self.tick("landing_sensor"), self.tick("landing_sensor"), self.automate()]
        return steps


def scenario_months(
    folder: Path, n_customers: int, months: int, drift_from: int, seed: int
) -> list[Path]:
    """Simulated monthly files with covariate + concept drift from month ``drift_from``
    (0-based): a 15% price rise, 20% more month-to-month contracts, concept shift 0.6."""
    from churn_assets.lib.ingestion.simulator import (
        DriftSpec,
        SimulatorConfig,
        simulate,
        write_monthly_files,
    )

    drift = DriftSpec(
        start_month=drift_from, price_rise=0.15, month_to_month_shift=0.2, concept_shift=0.6
    )
    config = SimulatorConfig(n_customers=n_customers, months=months, seed=seed, drift=drift)
    return write_monthly_files(simulate(config), folder)


def play(
    driver: LoopDriver,
    landing: Path,
    months: list[Path],
    initial: int,
) -> list[dict[str, Any]]:
    """Land ``initial`` months, train, then land one month per step and let the loop react.

    Returns:
        One record per phase: what happened and how long it took (seconds).
    """

    def phase(name: str, act: Callable[[], list[Step]]) -> dict[str, Any]:
        started = time.perf_counter()
        steps = act()
        runs = [r for step in steps for r in step.runs]
        if "retrain" in {r.dagster_run.tags.get(TRIGGER_TAG) for r in runs}:
            name += " (retrain)"
        return {
            "phase": name,
            "runs": len(runs),
            "failed_runs": sum(not r.success for r in runs),
            "seconds": round(time.perf_counter() - started, 1),
        }

    landing.mkdir(parents=True, exist_ok=True)
    for path in months[:initial]:
        path.rename(landing / path.name)
    phases = [
        phase(
            "train first champion",
            lambda: [Step("job", "churn_pipeline", [driver.run_job("churn_pipeline")])],
        ),
        phase(f"monitor months 1-{initial}", lambda: driver.land(landing)),
    ]
    for index, path in enumerate(months[initial:], start=initial + 1):
        path.rename(landing / path.name)
        phases.append(
            phase(
                f"month {index} lands",
                lambda: [*driver.land(landing), driver.tick("retrain_sensor")],
            )
        )
    return phases


def main(argv: list[str] | None = None) -> None:
    """Play a simulated scenario through the loop (see the module docstring)."""
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--initial", type=int, default=3, help="months before the first training")
    parser.add_argument("--drift-from", type=int, default=4, help="0-based month drift starts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    home = Path(os.environ.get(settings.HOME_ENV_VAR) or tempfile.mkdtemp(prefix="churn-loop-"))
    if (home / "landing").exists() and any((home / "landing").iterdir()):
        parser.error(
            f"{home / 'landing'} already has months: the scenario starts from an empty home"
        )
    os.environ[settings.HOME_ENV_VAR] = str(home)
    os.environ[settings.DATA_URI_ENV_VAR] = str(home / "landing")
    # A simulated month lands at once; no cooldown, so the scenario can retrain in minutes.
    os.environ.setdefault("CHURN_MONITORING_SETTLE_SECONDS", "0")
    os.environ.setdefault("CHURN_MONITORING_RETRAIN_COOLDOWN_HOURS", "0")
    months = scenario_months(
        home / "staged", args.customers, args.months, args.drift_from, args.seed
    )
    # With DAGSTER_HOME set (the Makefile sets it), runs land in the persistent instance and
    # `make ui` shows them afterwards; otherwise a temporary instance is used.
    if os.environ.get("DAGSTER_HOME"):
        phases = play(LoopDriver(dg.DagsterInstance.get()), home / "landing", months, args.initial)
    else:
        with dg.instance_for_test() as instance:
            phases = play(LoopDriver(instance), home / "landing", months, args.initial)
    sys.stdout.write(json.dumps(phases, indent=2) + "\n")
    log.info("state in %s", home)


if __name__ == "__main__":
    main()
