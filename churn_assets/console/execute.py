"""The child process of ``demo``: executes one job with the job's own executor.

    python -m churn_assets.console.execute <job> <run config JSON> <token>

``dg.execute_job`` on a reconstructable job, so the multiprocess executor starts every step in
its own process, exactly as `dg launch` did. Its output (Dagster's console log at DEBUG, the
libraries' warnings, tracebacks) goes wherever the parent points it: the run's log file. The
run carries ``TOKEN_TAG`` so the parent finds it in the instance.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

TOKEN_TAG = "churn/console"


def job_named(name: str) -> dg.JobDefinition:
    """The job ``name`` of the platform's definitions (the steps' processes call it too)."""
    from churn_assets.definitions import defs

    return defs().resolve_job_def(name)


def main(argv: list[str]) -> int:
    """Execute the job; 0 when the run succeeded."""
    import dagster as dg

    job, config, token = argv
    recon = dg.build_reconstructable_job(
        "churn_assets.console.execute", "job_named", reconstructable_args=(job,)
    )
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            recon,
            instance=instance,
            run_config=json.loads(config) or None,
            tags={TOKEN_TAG: token},
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
