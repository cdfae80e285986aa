"""What a person sees in the terminal: progress lines and result summaries, as text.

Pure formatting of plain values (the metadata of materializations and check evaluations, the
registry's versions, the run's status), so it is tested without Dagster or MLflow; the wiring
that reads them from the instance and the registry is ``churn_assets.console``. ``facts``
holds the values, ``progress`` the per-step lines, ``summary`` the run's result, ``status``
the platform's state.
"""
