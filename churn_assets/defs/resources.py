"""Resources shared by every domain: the platform settings, MLflow, monitoring and alerts, and
the IO managers (``defs/io_managers.py``) wired to the configured storage.

Defaults come from the environment (``CHURN_HOME``, ``CHURN_DATA_URI``, ``CHURN_CONTRACT``,
``CHURN_STORAGE_URI``); a variable that is set is wired through ``dg.EnvVar`` so the UI shows
where a value came from. Heavy libraries are imported inside methods so that loading the
definitions stays fast.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from churn_assets.defs.io_managers import ArtifactIOManager, TableIOManager
from churn_assets.defs.tracking import MlflowTracking  # re-exported: assets import it from here
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
