"""The MLflow resource: points each step at the tracking server (or the local store), tells an
unreachable server apart from other errors (so the step's retry policy can wait it out), and
ends the MLflow runs an earlier attempt of the same step left running.

Split from ``resources.py`` (which re-exports ``MlflowTracking``); heavy libraries are imported
inside methods so that loading the definitions stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from churn_assets.lib import settings


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
