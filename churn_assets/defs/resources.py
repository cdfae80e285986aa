"""Resources shared by every domain: the platform settings, MLflow, monitoring and alerts, and
the IO managers (``defs/io_managers.py``) wired to the configured storage.

Defaults come from the environment (``CHURN_HOME``, ``CHURN_DATA_URI``, ``CHURN_CONTRACT``,
``CHURN_STORAGE_URI``); a variable that is set is wired through ``dg.EnvVar`` so the UI shows
where a value came from. Heavy libraries are imported inside methods so that loading the
definitions stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from churn_assets.defs.io_managers import ArtifactIOManager, TableIOManager
from churn_assets.lib import notify, settings
from churn_assets.lib.ingestion.uri import DEFAULT_DATA_URI
from churn_assets.lib.monitoring import config as monitoring_config

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.uri import DataURI


_DRIFT = monitoring_config.DriftConfig()
_TRIGGER = monitoring_config.TriggerConfig()


class ChurnPlatform(dg.ConfigurableResource):
    """Platform settings: where state lives, where data comes from, which contract applies."""

    home: str = settings.DEFAULT_HOME
    data_uri: str = DEFAULT_DATA_URI
    contract_path: str = ""
    registered_model: str = "churn-model"  # name in the MLflow Model Registry

    _contract: Any = PrivateAttr(default=None)

    @property
    def home_path(self) -> Path:
        """The absolute ``CHURN_HOME``."""
        return settings.churn_home(self.home)

    def contract(self) -> DataContract:
        """The data contract (built-in Telco one unless ``contract_path`` is set)."""
        from churn_assets.lib.contract import BUILTIN_CONTRACT, DataContract

        if self._contract is None:
            self._contract = DataContract.load(self.contract_path or BUILTIN_CONTRACT)
        return self._contract

    def parsed_uri(self) -> DataURI:
        """The data source URI, parsed."""
        from churn_assets.lib.ingestion.uri import parse_data_uri

        return parse_data_uri(self.data_uri)

    def shown_uri(self) -> str:
        """The data URI as logs, metadata and reports show it (a database password hidden)."""
        from churn_assets.lib.ingestion.errors import SourceError
        from churn_assets.lib.ingestion.sql import display_url

        try:
            return self.parsed_uri().display
        except SourceError:
            return display_url(self.data_uri)

    def reports_dir(self) -> Path:
        """The folder HTML reports are written to."""
        return settings.reports_dir(self.home)


class TrackingServerUnavailableError(RuntimeError):
    """The MLflow tracking server did not answer (retried by the step's retry policy)."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` or a cause of it says the tracking server could not be reached."""
    import requests

    seen: BaseException | None = exc
    for _ in range(20):  # a cause chain, not a cycle
        if isinstance(seen, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        text = str(seen)
        if "API request to" in text and ("Max retries exceeded" in text or "timed out" in text):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def _tracking_error(uri: str, exc: BaseException) -> TrackingServerUnavailableError:
    return TrackingServerUnavailableError(
        f"the MLflow tracking server {uri} did not answer ({type(exc).__name__}: "
        f"{str(exc)[:300]}). Check that it runs (team stack: `make team-status`, its log in "
        ".churn-team/logs/mlflow.log) and that MLFLOW_TRACKING_URI points at it. The step is "
        "retried by the job's retry policy; once the server is back, re-execute the run from "
        "failure: runs this step left RUNNING are ended by its next attempt."
    )


class MlflowTracking(dg.ConfigurableResource):
    """Where MLflow runs go.

    ``tracking_uri`` empty means ``$MLFLOW_TRACKING_URI`` if set, else SQLite under
    ``CHURN_HOME/mlflow``. An ``http://`` URI of an ``mlflow server`` works unchanged.

    MLflow is pointed at the store once per step, when Dagster initialises the resource
    (``setup_for_execution``); asset bodies only open runs with :meth:`start_run`, which tags
    every run with the Dagster run, asset and partition that made it.

    Why not dagster-mlflow's ``mlflow_tracking``: it is a legacy function resource that opens
    one MLflow run per Dagster run and finds it again by a run-id tag from every step. We
    want one parent run per model family, tuned in parallel steps, each with nested trial
    runs, which is clearer with MLflow's own client behind a typed resource.
    """

    tracking_uri: str = ""
    experiment: str = settings.DEFAULT_EXPERIMENT
    home: str = ""  # the platform home; empty means $CHURN_HOME (or .churn)

    _uri: str | None = PrivateAttr(default=None)
    _experiments: dict[str, str] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        try:
            self._configure()
        except Exception as exc:
            if is_unavailable(exc):
                raise _tracking_error(self.tracking_uri, exc) from exc
            raise

    def _configure(self) -> str:
        from churn_assets.lib.tracking import default_tracking_uri, setup

        if self._uri is None:
            home = settings.churn_home(self.home or None)
            uri = self.tracking_uri or default_tracking_uri(home)
            self._experiments[self.experiment] = setup(uri, self.experiment, home)
            self._uri = uri
        return self._uri

    @property
    def uri(self) -> str:
        """The tracking URI this step logs to."""
        return self._configure()

    def experiment_id(self, experiment: str | None = None) -> str:
        """The id of ``experiment`` (default the platform's), created if missing.

        Runs are started with this id, never with ``mlflow.set_experiment``, which would
        change the active experiment for every later step run in the same process.
        """
        from churn_assets.lib.tracking import setup

        name = experiment or self.experiment
        uri = self._configure()
        if name not in self._experiments:
            home = settings.churn_home(self.home or None)
            self._experiments[name] = setup(uri, name, home)
        return self._experiments[name]

    @contextlib.contextmanager
    def start_run(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        run_name: str,
        tags: dict[str, str] | None = None,
        experiment: str | None = None,
    ) -> Iterator[Any]:
        """A new MLflow run in ``experiment``, tagged with the Dagster ids of this step.

        Runs an earlier attempt of this step left RUNNING are ended first (see
        :func:`_end_abandoned_runs`), and a tracking server that
        does not answer fails the step with :class:`TrackingServerUnavailableError`, naming
        it, so the job's retry policy retries the step.
        """
        import mlflow

        dagster_tags = {"dagster.run_id": context.run.run_id}
        if context.has_assets_def and len(context.selected_asset_keys) == 1:
            (key,) = context.selected_asset_keys
            dagster_tags["dagster.asset"] = key.to_user_string()
        if context.has_partition_key:
            dagster_tags["dagster.partition"] = context.partition_key
        try:
            experiment_id = self.experiment_id(experiment)
            _end_abandoned_runs(context, experiment_id, run_name, dagster_tags)
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=run_name,
                tags={**dagster_tags, **(tags or {})},
            ) as run:
                yield run
            _end_strays(context, experiment_id, run_name, dagster_tags, run.info.run_id)
        except Exception as exc:
            if is_unavailable(exc):
                raise _tracking_error(self.uri, exc) from exc
            raise

    def run_url(self, run_id: str, experiment: str | None = None) -> str:
        """The run's page in the MLflow UI (for the asset's metadata)."""
        from churn_assets.lib.tracking import run_url

        return run_url(self.uri, self.experiment_id(experiment), run_id)


# A run is left RUNNING when its step lost the tracking server or was killed; the step's next
# attempt (or next run) ends it, so nothing shows as live that nothing will finish.
_ABANDONED = "ended by a later attempt of its step: the attempt that started it died or lost the "
_ABANDONED += "tracking server before ending it"


def _same_step(run_name: str, dagster_tags: dict[str, str]) -> str | None:
    """An MLflow filter for RUNNING runs of this step (any Dagster run); None if unknowable."""
    keys = {k: v for k, v in dagster_tags.items() if k != "dagster.run_id"}
    values = [run_name, *keys.values()]
    if "dagster.asset" not in keys or any("'" in v for v in values):
        return None
    clauses = ["attributes.status = 'RUNNING'", f"attributes.run_name = '{run_name}'"]
    clauses += [f"tags.`{k}` = '{v}'" for k, v in keys.items()]
    return " and ".join(clauses)


def _end_children(client: Any, experiment_id: str, run_id: str) -> None:
    """End the RUNNING child runs (trials) of ``run_id`` as FAILED, saying why."""
    children = client.search_runs(
        [experiment_id],
        f"tags.`mlflow.parentRunId` = '{run_id}' and attributes.status = 'RUNNING'",
        max_results=1000,
    )
    for child in children:
        client.set_tag(child.info.run_id, "churn.abandoned", _ABANDONED)
        client.set_terminated(child.info.run_id, "FAILED")


def _terminate(client: Any, experiment_id: str, run_id: str) -> None:
    """End a run and its RUNNING child runs as FAILED, saying why."""
    _end_children(client, experiment_id, run_id)
    client.set_tag(run_id, "churn.abandoned", _ABANDONED)
    client.set_terminated(run_id, "FAILED")


def _end_abandoned_runs(
    context: Any, experiment_id: str, run_name: str, dagster_tags: dict[str, str]
) -> list[str]:
    """End this step's RUNNING runs left by an earlier attempt (same Dagster run) or by a
    Dagster run that has finished (a re-execution or a new launch); runs of a Dagster run
    still going are another live step's and are left alone. The ids ended."""
    from mlflow import MlflowClient

    query = _same_step(run_name, dagster_tags)
    if query is None:
        return []
    client = MlflowClient()
    ended = []
    for run in client.search_runs([experiment_id], query, max_results=100):
        owner = run.data.tags.get("dagster.run_id", "")
        if owner != context.run.run_id:
            record = context.instance.get_run_by_id(owner) if owner else None
            if record is None or not record.is_finished:
                continue
        _terminate(client, experiment_id, run.info.run_id)
        ended.append(run.info.run_id)
    if ended:
        context.log.warning(f"Ended {len(ended)} MLflow run(s) left RUNNING by {run_name}: {ended}")
    return ended


def _end_strays(
    context: Any, experiment_id: str, run_name: str, dagster_tags: dict[str, str], ours: str
) -> None:
    """After this step's run ended: end RUNNING twins of it from this attempt (a create_run the
    client retried after the server had already stored it) and RUNNING trial runs under it."""
    from mlflow import MlflowClient

    client = MlflowClient()
    query = _same_step(run_name, dagster_tags)
    twins = client.search_runs([experiment_id], query, max_results=100) if query else []
    for run in twins:
        if run.data.tags.get("dagster.run_id") == context.run.run_id:
            _terminate(client, experiment_id, run.info.run_id)
    _end_children(client, experiment_id, ours)


class MonitoringSettings(dg.ConfigurableResource):
    """Drift statistics and limits, the retraining trigger, and the landing sensor.

    Every field can be overridden with an environment variable ``CHURN_MONITORING_<FIELD>``
    (e.g. ``CHURN_MONITORING_RETRAIN_K=3``); docs/configuration.md explains each choice. The
    defaults are the libraries' own, declared once in ``lib/monitoring/config.py``.
    """

    # Drift report (lib/monitoring/config.py: effect sizes, so large samples do not alarm on noise).
    numeric_method: str = _DRIFT.numeric_method
    numeric_threshold: float = _DRIFT.numeric_threshold
    categorical_method: str = _DRIFT.categorical_method
    categorical_threshold: float = _DRIFT.categorical_threshold
    prediction_threshold: float = _DRIFT.prediction_threshold
    drifted_share_limit: float = _DRIFT.drifted_share_limit
    performance_drop_limit: float = _DRIFT.performance_drop_limit
    min_rows: int = _DRIFT.min_rows
    max_rows: int = _DRIFT.max_rows  # the library also accepts None (no cap); not offered here
    # Retraining trigger: k breaching batches of the last n, cooldown.
    retrain_k: int = _TRIGGER.k
    retrain_n: int = _TRIGGER.n
    retrain_min_rows: int = _TRIGGER.min_rows
    retrain_cooldown_hours: float = _TRIGGER.cooldown / timedelta(hours=1)
    # Landing sensor: a file must keep its version this long (or for one tick) to be read.
    settle_seconds: float = monitoring_config.DEFAULT_SETTLE_SECONDS
    # Batch scoring: top reasons per customer (0 turns SHAP off).
    top_reasons: int = monitoring_config.DEFAULT_TOP_REASONS

    def drift_config(self) -> monitoring_config.DriftConfig:
        """The drift report's configuration: these fields, the library's other defaults."""
        ours = type(self).model_fields
        return monitoring_config.DriftConfig(
            **{
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(monitoring_config.DriftConfig)
                if f.name in ours
            }
        )

    def trigger_config(self) -> monitoring_config.TriggerConfig:
        """The retraining trigger's thresholds."""
        return monitoring_config.TriggerConfig(
            k=self.retrain_k,
            n=self.retrain_n,
            min_rows=self.retrain_min_rows,
            cooldown=timedelta(hours=self.retrain_cooldown_hours),
        )

    @classmethod
    def from_env(cls) -> MonitoringSettings:
        """Defaults, overridden by ``CHURN_MONITORING_<FIELD>`` variables."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = os.environ.get(f"CHURN_MONITORING_{name.upper()}")
            if raw is not None:
                values[name] = field.annotation(raw)
        return cls(**values)


class Alerts(dg.ConfigurableResource):
    """Where alerts go: the log always; a Slack-compatible webhook when its URL is set
    (``CHURN_ALERT_WEBHOOK_URL``, kept out of the UI as an env var)."""

    webhook_url: str = ""
    min_severity: str = "info"

    def send(
        self,
        kind: str,
        severity: str,
        title: str,
        text: str = "",
        fields: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        """Send one alert; never raises (a failed alert must not fail the pipeline)."""
        alert = notify.Alert(kind, severity, title, text, fields or {}, url)
        notify.build_notifier(self.webhook_url, self.min_severity).send(alert)


def _env_or(name: str, default: str) -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` when the variable is set (the UI then shows its origin), else default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def platform_resources() -> dict[str, Any]:
    """The resources every domain uses, configured from the environment."""
    storage = settings.storage_uri()
    return {
        "platform": ChurnPlatform(
            home=_env_or(settings.HOME_ENV_VAR, settings.DEFAULT_HOME),
            data_uri=_env_or(settings.DATA_URI_ENV_VAR, DEFAULT_DATA_URI),
            contract_path=_env_or(settings.CONTRACT_ENV_VAR, ""),
        ),
        # boto3 reads AWS_ENDPOINT_URL, AWS_REGION and credentials from the environment.
        "s3": S3Resource(region_name=os.environ.get("AWS_REGION") or None),
        "mlflow": MlflowTracking(
            tracking_uri=_env_or("MLFLOW_TRACKING_URI", ""),
            home=_env_or(settings.HOME_ENV_VAR, ""),
        ),
        "io_manager": TableIOManager(base_uri=storage),
        "artifact_io_manager": ArtifactIOManager(base_uri=storage),
        "monitoring": MonitoringSettings.from_env(),
        "alerts": Alerts(
            webhook_url=_env_or(notify.WEBHOOK_URL_ENV_VAR, ""),
            min_severity=_env_or(notify.MIN_SEVERITY_ENV_VAR, "info"),
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Register the shared resources."""
    return dg.Definitions(resources=platform_resources())
