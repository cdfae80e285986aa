"""``python -m churn_assets.team up|down|status|env|demo`` (``make team-up`` and friends).

The stack's folder is ``$CHURN_TEAM_HOME`` (default ``.churn-team``); ``demo`` starts the
stack if needed, queues ``churn_pipeline`` for the daemon, follows it one line per finished
step (read from the Postgres event log), prints the result summary `make demo` prints
(``churn_assets.console``) and shows where the results are: the champion in the MLflow
server's registry, runs and events in Postgres, tables and the bento in the bucket. It exits
non-zero when the run did not succeed, with the failed step and its cause last.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from churn_assets.team.services import say
from churn_assets.team.stack import DEFAULT_ROOT, TeamStack

log = logging.getLogger("churn_assets.team")
RUN_TIMEOUT_S = 3600


def _stack() -> TeamStack:
    return TeamStack(Path(os.environ.get("CHURN_TEAM_HOME") or DEFAULT_ROOT))


def _print_urls(urls: dict[str, str]) -> None:
    width = max(map(len, urls))
    for name, url in urls.items():
        say(f"  {name:<{width}}  {url}")


def up() -> None:
    stack = _stack()
    started = time.monotonic()
    urls = stack.up()
    say(f"Team stack up in {time.monotonic() - started:.0f} s:")
    _print_urls(urls)
    say('Use it from a shell: eval "$(make -s team-env)"; stop it: make team-down')


def down() -> None:
    stopped = _stack().down()
    say("Stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def status() -> None:
    for name, running in _stack().status().items():
        say(f"  {name:<18} {'running' if running else 'stopped'}")


def env() -> None:
    stack = _stack()
    if not stack.status()["postgres"]:
        raise SystemExit(f"the team stack in {stack.root} is not running: make team-up first")
    for name, value in stack.env().items():
        say(f"export {name}={shlex.quote(value)}")


def demo() -> None:
    """Queue churn_pipeline, follow it step by step from the Postgres event log, then the
    result summary (the same as `make demo`'s) and where the stack keeps it all."""
    import dagster as dg

    from churn_assets.console.demo import complete
    from churn_assets.console.follow import follow
    from churn_assets.lib import settings
    from churn_assets.lib.console.summary import render
    from churn_assets.team import report, runs

    stack = _stack()
    urls = stack.up()
    environment = stack.process_env()
    os.environ.update(stack.env())  # this process reads the instance and the registry too
    started = time.monotonic()
    run_id = runs.launch("churn_pipeline", environment)
    say(f"Queued churn_pipeline (run {run_id}); the daemon runs it. Follow it in the UI:")
    say(f"  {urls['Dagster UI']}/runs/{run_id}")
    deadline = started + RUN_TIMEOUT_S
    with dg.DagsterInstance.get() as instance:
        facts = follow(instance, run_id, say, interval=2, alive=lambda: time.monotonic() < deadline)
        if not instance.get_run_by_id(run_id).is_finished:
            raise runs.RunError(f"run {run_id} still going after {RUN_TIMEOUT_S} s")
        facts = complete(instance, run_id, settings.churn_home(), urls["Dagster UI"])
        footprint = report.summary(stack, instance, run_id) if facts.succeeded else None
    say("")
    for line in render(facts):
        say(line)
    if footprint is None:
        raise SystemExit(1)
    say(f"\nOn the team stack ({time.monotonic() - started:.0f} s from queueing to done):")
    report.print_summary(footprint)
    _print_urls(urls)


COMMANDS = {"up": up, "down": down, "status": status, "env": env, "demo": demo}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m churn_assets.team", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    # Our progress lines only; libraries (alembic, pgserver, botocore) stay at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("churn_assets.team").setLevel(logging.INFO)
    from churn_assets.team.runs import RunError
    from churn_assets.team.services import ServiceError

    try:
        COMMANDS[args.command]()
    except (ServiceError, RunError) as exc:
        raise SystemExit(
            f"error: {exc}\n(logs in {_stack().root / 'logs'}; `make team-down` "
            "stops what did start)"
        ) from None


if __name__ == "__main__":
    main()
