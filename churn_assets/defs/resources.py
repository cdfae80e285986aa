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

    def reports_dir(self) -> Path:
        """The folder HTML reports are written to."""
        return settings.reports_dir(self.home)


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
        self._configure()

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
        """A new MLflow run in ``experiment``, tagged with the Dagster ids of this step."""
        import mlflow

        dagster_tags = {"dagster.run_id": context.run.run_id}
        if context.has_assets_def and len(context.selected_asset_keys) == 1:
            (key,) = context.selected_asset_keys
            dagster_tags["dagster.asset"] = key.to_user_string()
        if context.has_partition_key:
            dagster_tags["dagster.partition"] = context.partition_key
        with mlflow.start_run(
            experiment_id=self.experiment_id(experiment),
            run_name=run_name,
            tags={**dagster_tags, **(tags or {})},
        ) as run:
            yield run

    def run_url(self, run_id: str, experiment: str | None = None) -> str:
        """The run's page in the MLflow UI (for the asset's metadata)."""
        from churn_assets.lib.tracking import run_url

        return run_url(self.uri, self.experiment_id(experiment), run_id)


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
