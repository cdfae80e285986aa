"""The terminal front of the platform: ``python -m churn_assets.console demo|status``.

``demo`` (what `make demo` runs) launches a job in a child process that executes it with the
job's own executor (multiprocess: every step its own process), writes Dagster's full text log
to a file, and prints one line per finished step and a result summary, all read from the
run's events in the Dagster instance and from the MLflow registry. ``status`` (`make status`)
prints the platform's state. The formatting is ``churn_assets.lib.console``.
"""
