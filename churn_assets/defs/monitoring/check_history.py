"""Asset check executions, from the instance: the one private Dagster API in the project.

On purpose: Dagster 1.13 has no public way to list asset check executions (the public
`DagsterInstance` methods cover materializations, observations and run status changes;
`get_event_records` is deprecated), and a failed check is not a failed run, so
`run_failure_sensor` never sees it. `check_failure_alerts` therefore reads
`instance.event_log_storage.get_asset_check_execution_history` (kept in the instance's index,
so SQLite and Postgres alike) and compares its records with the status enum below;
`test_the_check_history_api_we_rely_on` fails loudly when either changes.
"""

import dagster as dg

PAGE = 100


def statuses():
    """The PLANNED and FAILED statuses of an execution record."""
    # Private on purpose: Dagster 1.13 exports no public enum for check execution status (see
    # the module docstring); test_the_check_history_api_we_rely_on fails loudly if it moves.
    from dagster._core.storage.asset_check_execution_record import (  # private: see above
        AssetCheckExecutionRecordStatus,
    )

    return AssetCheckExecutionRecordStatus.PLANNED, AssetCheckExecutionRecordStatus.FAILED


def latest(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> list:
    """The newest executions of the check (one page), newest first."""
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=PAGE)


def executions_after(instance: dg.DagsterInstance, key: dg.AssetCheckKey, after: int) -> list:
    """Every execution of the check with an id above ``after``, oldest first. Paged: a
    backfill can run a check many times between two ticks."""
    history = instance.event_log_storage.get_asset_check_execution_history
    found, cursor = [], None
    while True:
        page = history(key, limit=PAGE, cursor=cursor)
        found.extend(r for r in page if r.id > after)
        if len(page) < PAGE or page[-1].id <= after:
            return sorted(found, key=lambda r: r.id)
        cursor = page[-1].id
