"""The closed loop in one process, for tests: what the Dagster daemon does, in steps.

:class:`LoopDriver` ticks a sensor (with its stored cursor), executes the runs it requests on
the same instance, and evaluates declarative automation and executes what it requests, one
run per partition, as the automation sensor does. Everything is recorded in the instance's
event log, as daemon runs are, so a test can assert the loop's decisions in a few minutes
instead of waiting for sensor intervals. The product runs the real daemon
(`churn_assets.scenario`, `make loop`); `test_daemon.py` checks that path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from churn_assets.defs.monitoring.assets import GROUP as MONITORING_GROUP

log = logging.getLogger(__name__)


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

    def execute(
        self,
        keys: list[dg.AssetKey],
        partition_key: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize ``keys`` (one partition, in dependency order) on the driver's instance."""
        names = {k.to_user_string() for k in keys}
        started = time.perf_counter()
        result = self._job.execute_in_process(
            instance=self.instance,
            asset_selection=keys,
            partition_key=partition_key,
            tags=tags or {},
            run_config={"ops": {k: v for k, v in self.ops.items() if k in names}},
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
        for event in result.get_step_failure_events():
            error = event.event_specific_data.error
            cause = error.cause.to_string() if error and error.cause else str(error)
            log.warning("step %s failed: %s", event.step_key, cause[-1500:])
        return result

    def run_job(self, job_name: str, partition_key: str | None = None, **tags: str):
        """Run a job's assets (a sensor's target, or churn_pipeline)."""
        job = self.defs.resolve_job_def(job_name)
        keys = sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())
        return self.execute(keys, partition_key, tags)

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
            if request.run_key and (sensor_name, request.run_key) in self.run_keys:
                continue  # the daemon never launches a run key twice for a sensor
            tags = {**request.tags, "dagster/sensor_name": sensor_name}
            if request.run_key:
                self.run_keys.add((sensor_name, request.run_key))
                tags["dagster/run_key"] = request.run_key
            job_name = request.job_name or sensor.job_name
            step.runs.append(self.run_job(job_name, request.partition_key, **tags))
        return step

    def automate(self, max_rounds: int = 5) -> Step:
        """Evaluate the automation conditions until nothing more is requested; each
        partition's requested assets run together, in dependency order."""
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
            by_partition: dict[str, list[dg.AssetKey]] = {}
            for evaluation in result.results:
                for partition in result.get_requested_partitions(evaluation.key):
                    if partition:  # the monthly assets; nothing unpartitioned is automated
                        by_partition.setdefault(partition, []).append(evaluation.key)
            for partition in sorted(by_partition):
                tags = {"dagster/from_automation": "true"}
                step.runs.append(self.execute(by_partition[partition], partition, tags))
        return step

    def land(self, path: Path) -> list[Step]:
        """After a file lands: ingest it (two ticks: the landing sensor lets files settle)
        and let automation score and drift-check it."""
        steps = []
        if self.automation_cursor is None:
            steps.append(self.automate())  # the first evaluation only sets the baseline
        steps += [self.tick("landing_sensor"), self.tick("landing_sensor"), self.automate()]
        return steps
