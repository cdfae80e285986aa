"""After deployment: batch scoring, drift reports, the retraining trigger, landing scans and
the Prometheus export.

Wired by ``churn_assets/defs/monitoring/``."""
