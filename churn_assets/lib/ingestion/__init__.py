"""Raw data in: data sources (simulator, files, S3), the simulator, and contract validation
with quarantine.

Wired by ``churn_assets/defs/ingestion/``."""
