"""The team stack on one machine, from the project's own packages: no root, no Docker.

=================  ====================================================  ==================
service            what it is                                            production stand-in
=================  ====================================================  ==================
postgres           Postgres 16 (``pgserver``): databases dagster,        managed Postgres
                   mlflow, optuna
s3                 ``rclone serve s3`` on ``<root>/s3`` (an S3 API;       S3 / GCS / MinIO
                   buckets are folders, so data survives a restart)
mlflow             ``mlflow server`` on Postgres, artifacts proxied to   the same, on a host
                   ``s3://<bucket>/mlflow``
dagster-daemon     queue, sensors, schedules, run monitoring on the      the Helm chart's
                   Postgres instance (``deploy/team/dagster.yaml``)      daemon
dagster-webserver  the UI on the same instance                           the chart's webserver
=================  ====================================================  ==================

Everything lives under one folder (default ``.churn-team``): the Postgres data, the bucket, the
logs and pid files, and the scratch ``CHURN_HOME`` of the processes the daemon starts. Steps
exchange data only through Postgres, the bucket and the MLflow server (:meth:`TeamStack.env`
is the whole configuration), which is what lets them run on other machines; the same variables
with real hostnames are the production set-up.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from churn_assets.lib import settings
from churn_assets.team import postgres
from churn_assets.team.services import Service, console_script, http_ok, listening

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
TEAM_DAGSTER_YAML = REPO / "deploy" / "team" / "dagster.yaml"
WORKSPACE = REPO / "workspace.yaml"
DEFAULT_ROOT = ".churn-team"
DATABASES = ("dagster", "mlflow", "optuna")
# Local only: the S3 server accepts this one key pair.
ACCESS_KEY, SECRET_KEY = "churn-team", "churn-team-secret"


# How long a client keeps trying a store that does not answer, chosen, not inherited
# (docs/deployment.md, "What happens when a store goes away"). MLflow's defaults (7 retries,
# 120 s timeout) wait about 4 minutes per call on a dead server; these ride over a server
# restart (~1 minute: sleeps 0, 4, 8, 16, 32 s) inside the call, since a tuning step logs
# throughout and would lose its progress, and give up after that, failing the step with the
# server's URL for the retry policy. The bucket is touched at a step's edges (inputs, output)
# where retrying the step costs little: a few attempts (~1-15 s), then the step retries.
STORE_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # a hung server: 6 tries x 30 s + the sleeps
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "5",
}


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the stack (``CHURN_TEAM_<NAME>_PORT`` overrides each)."""

    s3: int = 9900
    mlflow: int = 5500
    ui: int = 3300

    @classmethod
    def from_env(cls) -> Ports:
        def port(name: str, default: int) -> int:
            variable = f"CHURN_TEAM_{name.upper()}_PORT"
            raw = os.environ.get(variable) or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise SystemExit(f"{variable}={raw!r} is not a TCP port (1-65535)")
            return int(raw)

        return cls(port("s3", cls.s3), port("mlflow", cls.mlflow), port("ui", cls.ui))


@dataclass
class TeamStack:
    """The stack rooted at ``root`` (see the module docstring)."""

    root: Path = field(default_factory=lambda: Path(DEFAULT_ROOT))
    ports: Ports = field(default_factory=Ports.from_env)
    bucket: str = "churn"
    data_uri: str = ""  # CHURN_DATA_URI for runs; empty: the caller's, else the simulator
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. CHURN_ALERT_WEBHOOK_URL

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()

    # -- layout -------------------------------------------------------------------------
    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def work_dir(self) -> Path:
        """Scratch CHURN_HOME of the processes the daemon starts (never read across steps)."""
        return self.root / "work"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ui}"

    @property
    def storage_uri(self) -> str:
        return f"s3://{self.bucket}/storage"

    def postgres(self) -> postgres.Postgres:
        """The running Postgres (started if needed)."""
        return postgres.start(self.root / "postgres", keep_running=True)

    # -- configuration -------------------------------------------------------------------
    def s3_env(self) -> dict[str, str]:
        """What a boto3 / s3fs client needs to reach the bucket."""
        return {
            "AWS_ENDPOINT_URL": self.s3_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            # botocore >= 1.36 checksums every request and response by default; rclone's S3
            # server (like several S3-compatible stores) does not compute them. AWS accepts
            # these settings too.
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }

    def env(self, pg: postgres.Postgres | None = None) -> dict[str, str]:
        """The platform's whole configuration for a process that uses this stack."""
        pg = pg or self.postgres()
        env = {
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_POSTGRES_URL": pg.url("dagster"),
            "CHURN_BUCKET": self.bucket,
            settings.STORAGE_URI_ENV_VAR: self.storage_uri,
            settings.OPTUNA_STORAGE_ENV_VAR: pg.url("optuna"),
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            settings.HOME_ENV_VAR: str(self.work_dir),
            "BENTOML_HOME": str(self.work_dir / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            settings.PROMETHEUS_DIR_ENV_VAR: str(self.root / "prometheus"),
            **STORE_RETRIES,
            **self.s3_env(),
        }
        data_uri = self.data_uri or os.environ.get(settings.DATA_URI_ENV_VAR, "")
        if data_uri:
            env[settings.DATA_URI_ENV_VAR] = data_uri
        return {**env, **self.extra_env}

    def process_env(self, pg: postgres.Postgres | None = None) -> dict[str, str]:
        """The current environment with the stack's configuration on top."""
        return {**os.environ, **self.env(pg)}

    # -- services ------------------------------------------------------------------------
    def services(self, pg: postgres.Postgres) -> list[Service]:
        """The stack's processes, in start order."""
        env = self.process_env(pg)
        common = {"env": env, "run_dir": self.root / "run", "log_dir": self.root / "logs"}
        mlflow_env = {
            **env,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_url,
            # MLflow 3's job runner (huey consumers for its GenAI jobs, ~240 MB each) serves
            # nothing the platform uses: not started.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        return [
            Service(
                "s3",
                [
                    console_script("rclone"), "serve", "s3", str(self.root / "s3"),
                    "--addr", f"127.0.0.1:{self.ports.s3}",
                    "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                    "--etag-hash", "MD5",
                    "--config", "/dev/null",  # no user rclone.conf: only this folder is served
                ],
                healthy=lambda: listening(self.ports.s3),
                start_timeout=30,
                port=self.ports.s3,
                **common,
            ),
            Service(
                "mlflow",
                [
                    console_script("mlflow"), "server",
                    "--backend-store-uri", pg.url("mlflow"),
                    "--artifacts-destination", f"s3://{self.bucket}/mlflow",
                    "--serve-artifacts",
                    "--host", "127.0.0.1", "--port", str(self.ports.mlflow),
                    "--workers", "2",
                ],
                healthy=lambda: http_ok(f"{self.mlflow_url}/health"),
                # Its first start on an empty database runs the schema migrations (~1 min).
                start_timeout=300,
                port=self.ports.mlflow,
                **{**common, "env": mlflow_env},
            ),
            Service(
                "dagster-daemon",
                [console_script("dagster-daemon"), "run", "-w", str(WORKSPACE)],
                healthy=lambda: self._daemon_live(env),
                cwd=REPO,
                start_timeout=240,
                **common,
            ),
            Service(
                "dagster-webserver",
                [
                    console_script("dagster-webserver"), "-w", str(WORKSPACE),
                    "-h", "127.0.0.1", "-p", str(self.ports.ui),
                ],
                healthy=lambda: http_ok(f"{self.ui_url}/server_info"),
                cwd=REPO,
                start_timeout=240,
                port=self.ports.ui,
                **common,
            ),
        ]  # fmt: skip

    @staticmethod
    def _daemon_live(env: dict[str, str]) -> bool:
        check = [console_script("dagster-daemon"), "liveness-check"]
        # Heartbeats of this start only: the default tolerance (30 min) would take those a
        # daemon stopped a minute ago left in Postgres for a live daemon.
        fresh = {**env, "DAGSTER_DAEMON_HEARTBEAT_TOLERANCE": "60"}
        ok = subprocess.run(check, env=fresh, capture_output=True, check=False).returncode == 0
        if not ok:
            time.sleep(2)  # the check starts a Python process: do not spin on it
        return ok

    def up(self) -> dict[str, str]:
        """Start whatever is not running (idempotent); the URLs."""
        self.root.mkdir(parents=True, exist_ok=True)
        pg = self.postgres()
        for name in DATABASES:
            pg.create_database(name)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(TEAM_DAGSTER_YAML, self.dagster_home / "dagster.yaml")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        services = self.services(pg)
        services[0].start()
        self.ensure_bucket()
        for service in services[1:]:
            service.start()
        return self.urls(pg)

    def ensure_bucket(self) -> None:
        import boto3
        from botocore.exceptions import ClientError

        client = boto3.client("s3", **_boto_kwargs(self.s3_env()))
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise  # e.g. 403: another server with other keys answers on this port
            client.create_bucket(Bucket=self.bucket)
            log.info("created bucket %s", self.bucket)

    def down(self) -> list[str]:
        """Stop everything this stack started (data stays under ``root``); what was stopped.

        Running runs are interrupted: the daemon's process group (code servers, run
        workers, steps) is stopped with it, and the runs are then marked failed in Postgres,
        so none stays STARTED holding the queue's slot after the next ``up``.
        """
        stopped = []
        services = _offline_services(self)
        for service in reversed(services):
            if service.stop():
                stopped.append(service.name)
        if _postgres_running(self.root / "postgres"):
            self._fail_interrupted_runs()
        if postgres.stop(self.root / "postgres"):
            stopped.append("postgres")
        return stopped

    def _fail_interrupted_runs(self) -> None:
        import dagster as dg

        unfinished = [dg.DagsterRunStatus[s] for s in ("STARTING", "STARTED", "CANCELING")]
        previous = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "DAGSTER_POSTGRES_URL")}
        os.environ.update({k: self.env()[k] for k in previous})
        try:
            with dg.DagsterInstance.get() as instance:
                for record in instance.get_run_records(dg.RunsFilter(statuses=unfinished)):
                    run = record.dagster_run
                    instance.report_engine_event("Interrupted by `team down`.", run)
                    instance.report_run_failed(run)
                    log.info("marked run %s of %s failed (interrupted)", run.run_id, run.job_name)
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def service(self, name: str) -> Service:
        """One of :meth:`services` by name (to stop, kill or start it alone)."""
        return {s.name: s for s in self.services(self.postgres())}[name]

    def status(self) -> dict[str, bool]:
        """Which services run."""
        state = {s.name: s.running() for s in _offline_services(self)}
        return {"postgres": _postgres_running(self.root / "postgres"), **state}

    def urls(self, pg: postgres.Postgres) -> dict[str, str]:
        return {
            "Dagster UI": self.ui_url,
            "MLflow UI": self.mlflow_url,
            "S3 endpoint": f"{self.s3_url} (bucket {self.bucket}, key {ACCESS_KEY})",
            "Postgres": pg.url("<dagster|mlflow|optuna>"),
            "Folder": str(self.root),
        }


def _boto_kwargs(env: dict[str, str]) -> dict[str, str]:
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_REGION"],
    }


def _offline_services(stack: TeamStack) -> list[Service]:
    """The services with their pid files, without starting Postgres to build their commands."""
    names = ["s3", "mlflow", "dagster-daemon", "dagster-webserver"]
    return [
        Service(n, [], {}, stack.root / "run", stack.root / "logs", healthy=lambda: True)
        for n in names
    ]


def _postgres_running(data_dir: Path) -> bool:
    if not (data_dir / "postmaster.pid").exists():
        return False
    from pgserver.postgres_server import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    return info is not None and info.is_running()
