"""Raw data in: the source URI (``uri``), file stores (``stores``), readers with lineage
(``readers``), whole-source loading (``sources``), the simulator, the month rule (``months``),
and contract validation with quarantine (``validation``).

Wired by ``churn_assets/defs/ingestion/``."""
