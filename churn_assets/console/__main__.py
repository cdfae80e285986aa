"""``python -m churn_assets.console demo|status`` (`make demo`, `make status`).

demo [--job churn_pipeline] [--config-json '{"ops": {...}}']
    Run the job (every step its own process), one line per finished step, then the
    result summary; exit code 0 exactly when the run succeeded. CHURN_LOG_LEVEL=debug
    (or info, warning, error) also prints Dagster's event log at that level on stderr.
status
    Champion and challenger, the last run of each job, the newest month's drift verdict
    and the open alerts, from the Dagster instance and the MLflow registry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _need_instance(parser: argparse.ArgumentParser) -> None:
    home = os.environ.get("DAGSTER_HOME")
    if not home or not (Path(home) / "dagster.yaml").is_file():
        parser.error(
            "DAGSTER_HOME must name a folder holding dagster.yaml (make demo and make status "
            "set it to $CHURN_HOME/dagster and copy the repository's dagster.yaml there)"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m churn_assets.console",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a job with progress lines and a summary")
    demo.add_argument("--job", default="churn_pipeline")
    demo.add_argument("--config-json", default="", help="run config (JSON), e.g. ops' config")
    commands.add_parser("status", help="the platform's current state")
    args = parser.parse_args(argv)
    _need_instance(parser)
    from churn_assets.console import follow

    try:
        follow.log_level(os.environ.get(follow.LOG_LEVEL_ENV_VAR))
        config = json.loads(args.config_json) if getattr(args, "config_json", "") else {}
    except (ValueError, json.JSONDecodeError) as exc:
        parser.error(str(exc))
    if args.command == "demo":
        from churn_assets.console.demo import run_job

        return run_job(args.job, config)
    from churn_assets.console.status import print_status

    return print_status()


if __name__ == "__main__":
    sys.exit(main())
