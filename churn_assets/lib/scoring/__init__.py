"""On-demand batch scoring: any table (file, bucket or database) scored by the champion in
chunks, written to a Parquet or SQL sink, idempotent per run."""
