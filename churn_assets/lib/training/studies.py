"""Durable Optuna studies: where they are stored, how they are named, how they are opened.

Studies are stored durably (an Optuna journal file by default, or any RDB URL), named by
family and training-data version, so an interrupted search resumes where it stopped and
several processes can work on one study at once (:mod:`.worker`).

A worker can die mid-trial (a pod evicted, a step killed, OOM). Its trial would stay
``RUNNING`` forever, and since running trials hold a share of the trial budget it would also
shrink every later search. So a stale trial is failed and retried once:

- RDB storage (Postgres on a team deployment): Optuna's heartbeat. Every running trial
  records a heartbeat every ``heartbeat_interval`` seconds; a trial whose heartbeat is older
  than ``grace_period`` is failed by the next worker that starts a trial
  (``optuna.storages.fail_stale_trials``, which ``study.optimize`` runs before every trial),
  and ``RetryHeartbeatStaleTrialCallback`` queues its parameters again as a new trial.
- Journal file (one machine): Optuna 5.0's ``JournalStorage`` has no heartbeat (it is not a
  ``BaseHeartbeat``: checked in the installed ``optuna/storages/journal/_storage.py``), so
  :func:`fail_stale_trials` fails running trials whose owning process, recorded on the
  trial as host, pid and start time (:mod:`.owners`), no longer exists on this host.
- Either: a trial owned by a process of this host that is gone is failed at once (on RDB
  too: a restart on the same machine need not wait out the heartbeat grace period), and a
  running trial with no owner recorded is failed once older than ``UNOWNED_GRACE_S``.

The MLflow runs such a process left running are ended by the next search of the study
(:func:`churn_assets.lib.training.trial_runs.end_orphaned_runs`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn_assets.lib.training.owners import Owner

# Bump when a search space changes: studies of another version are not resumed.
SEARCH_SPACE_VERSION = "1"

# A running trial records a heartbeat this often; one silent for the grace period is stale.
# One heartbeat is a single-row UPDATE, so 10 s is cheap even for many workers, and 60 s of
# grace rides out a busy database or a long garbage-collection pause without failing a
# trial that is still alive.
HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 60
# A stale trial's parameters are tried once more; a configuration that kills its worker
# twice (e.g. out of memory) is left failed.
MAX_RETRY = 1
# A journal trial without an owner (its process died between creating the trial and
# recording itself, or it predates owner records) is stale once it is this old.
UNOWNED_GRACE_S = 600

OWNER_HOST_ATTR = "worker_host"
OWNER_PID_ATTR = "worker_pid"
OWNER_START_ATTR = "worker_started"
OWNER_ATTRS = (OWNER_HOST_ATTR, OWNER_PID_ATTR, OWNER_START_ATTR)

_DRIVERLESS_POSTGRES = ("postgresql://", "postgres://")


def rdb_url(url: str) -> str:
    """The URL with the psycopg2 driver named when it names none.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, which is not installed (the
    platform ships psycopg2-binary, which dagster-postgres needs: with psycopg 3 its
    ``NOTIFY`` statements fail). ``postgres://`` (Heroku-style) is rewritten too; an explicit
    driver (``postgresql+psycopg://``) and other databases are left as they are.
    """
    for prefix in _DRIVERLESS_POSTGRES:
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options for a study database shared by long-lived workers.

    ``pool_pre_ping`` tests a pooled connection before use, so a worker survives a database
    restart or failover and idle connections closed by a proxy (a search can spend minutes
    in one trial without touching the database from the main thread). Connections are
    recycled before the half hour after which many managed proxies drop them.
    """
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        kwargs["pool_recycle"] = 1800
        # Fail fast on an unreachable server instead of libpq's default of waiting forever;
        # the name shows in pg_stat_activity.
        kwargs["connect_args"] = {"connect_timeout": 10, "application_name": "churn-optuna"}
    return kwargs


@dataclass(frozen=True)
class StudyStore:
    """Where studies live, in a form any process can open: an RDB URL, or (no URL) the
    journal file under ``home``. Picklable, so spawned worker processes open their own
    connections instead of inheriting a parent's.

    Attributes:
        url: an RDB URL (``postgresql://...``, ``sqlite:///...``); empty for the journal.
        home: the folder holding ``optuna/studies.journal`` when there is no URL.
        heartbeat_interval, grace_period: see the module docstring (RDB only).
        max_retry: how many times a stale trial's parameters are queued again.
    """

    url: str | None
    home: Path
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    max_retry: int = MAX_RETRY

    @property
    def is_rdb(self) -> bool:
        """Whether the studies are in a database (shareable across machines, heartbeats)."""
        return bool(self.url)

    @property
    def journal_path(self) -> Path:
        """The journal file used when there is no URL."""
        return self.home / "optuna" / "studies.journal"

    def describe(self) -> str:
        """Where the studies are, without credentials."""
        if not self.url:
            return f"journal {self.journal_path}"
        from sqlalchemy.engine import make_url

        return make_url(rdb_url(self.url)).render_as_string(hide_password=True)

    def open(self) -> Any:
        """The Optuna storage (a new connection pool or file handle in this process)."""
        import optuna
        from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        if self.url:
            url = rdb_url(self.url)
            with warnings.catch_warnings():
                # heartbeat_interval and the retry callback are marked experimental since
                # Optuna 2.9; they are the documented way to recover from dead workers.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs(url),
                    heartbeat_interval=self.heartbeat_interval,
                    grace_period=self.grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=self.max_retry
                    ),
                )
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        path = str(self.journal_path)
        # The open-lock works on any filesystem (the default symlink lock does not on some).
        backend = JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))
        return JournalStorage(backend)


def study_storage(url: str | None, home: Path) -> Any:
    """The Optuna storage for a URL, or a journal file under ``home`` by default.

    The journal file backend supports several processes on one machine (file locks) and
    survives crashes; an RDB URL (``postgresql://...``) shares a study across machines, with
    heartbeats that fail a dead worker's trial. SQLite is fine for one process and fragile
    with several writers.
    """
    return StudyStore(url or None, home).open()


def study_name(family: str, data_version: str) -> str:
    """A study is specific to a family, the training data and the search-space version."""
    return f"churn-{family}-v{SEARCH_SPACE_VERSION}-{data_version}"


def open_study(storage: Any, name: str, seed: int) -> Any:
    """Create or resume a study (TPE with a seed, median pruning over CV folds).

    TPE's ``constant_liar`` (on by default since Optuna 5) makes a worker treat other
    workers' running trials as bad results, so parallel workers do not all sample the same
    promising region. Workers sharing a study pass different seeds (:mod:`.worker`), else
    their first, random, trials would be identical.
    """
    import optuna

    if isinstance(storage, StudyStore):
        storage = storage.open()
    return optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=5, constant_liar=True
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        load_if_exists=True,
    )


def heartbeat_enabled(study: Any) -> bool:
    """Whether the study's storage fails dead workers' trials by itself (RDB heartbeat)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def record_owner(trial: Any) -> None:
    """Write the running trial's host, pid and process start time on it (read by
    :func:`fail_stale_trials`)."""
    owner = Owner.this_process()
    trial.set_user_attr(OWNER_HOST_ATTR, owner.host)
    trial.set_user_attr(OWNER_PID_ATTR, owner.pid)
    if owner.started:
        trial.set_user_attr(OWNER_START_ATTR, owner.started)


def fail_stale_trials(study: Any, max_retry: int = MAX_RETRY) -> list[int]:
    """Fail the running trials whose worker is gone and queue each once more; their numbers.

    With a heartbeat (RDB) Optuna's own ``fail_stale_trials`` runs first. With or without
    one, a running trial is stale when its recorded owner is a process of this host that no
    longer exists; trials owned by other hosts are left to their heartbeats (only their host
    can tell otherwise). With either, a running trial that has no owner and started over
    ``UNOWNED_GRACE_S`` ago is stale: its worker died before recording itself, or it was
    left by a version without heartbeats (Optuna never fails a trial that has no heartbeat
    row), and it would otherwise hold a share of every later budget.
    """
    import optuna
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed: list[int] = []
    heartbeat = heartbeat_enabled(study)
    if heartbeat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        failed = [t.number for t in running if states[t.number] == TrialState.FAIL]
        running = [t for t in running if states[t.number] == TrialState.RUNNING]

    for trial in running:
        if not _is_stale(trial):
            continue
        # The storage API, as Optuna's own fail_stale_trials uses it; another worker may have
        # failed the trial first.
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
                _queue_retry(study, trial, max_retry)
    return failed


def _queue_retry(study: Any, trial: Any, max_retry: int) -> None:
    """What ``RetryHeartbeatStaleTrialCallback`` does (same system attributes, so its
    ``retried_trial_number`` works), without copying the dead owner onto the new trial: a
    worker that pops it must not look dead before it records itself."""
    import optuna

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        return
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={k: v for k, v in trial.user_attrs.items() if k not in OWNER_ATTRS},
            system_attrs={
                **trial.system_attrs,
                "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                "retry_history": history,
            },
        )
    )


def _is_stale(trial: Any) -> bool:
    owner_host = trial.user_attrs.get(OWNER_HOST_ATTR)
    pid = trial.user_attrs.get(OWNER_PID_ATTR)
    if owner_host is None or pid is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - started > UNOWNED_GRACE_S
    owner = Owner(owner_host, int(pid), str(trial.user_attrs.get(OWNER_START_ATTR, "")))
    # Another host's trial is judged by its heartbeats (RDB) or left alone (journal).
    return owner.is_gone() is True
