# churn-platform: every target installs what it needs first (uv is bootstrapped with pip).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

CHURN_HOME ?= $(CURDIR)/.churn
# Absolute, also when given relative (make ui CHURN_HOME=.churn-loop): Dagster requires it.
override CHURN_HOME := $(abspath $(CHURN_HOME))
export CHURN_HOME
export DAGSTER_HOME ?= $(CHURN_HOME)/dagster
# Pre-compiled bytecode keeps `import dagster` (and so loading the definitions) fast even
# where PYTHONDONTWRITEBYTECODE is set.
export UV_COMPILE_BYTECODE := 1
# BentoML's model and bento store lives in the platform home too; no usage tracking.
export BENTOML_HOME ?= $(CHURN_HOME)/bentoml
export BENTOML_DO_NOT_TRACK := True
PORT ?= 3001
WORKERS ?= 1
# pytest-xdist workers for `make test` (the team tests spend much of their time waiting on
# servers and sensor ticks, so a second worker overlaps them with the rest of the suite).
# --no-loadscope-reorder: groups start in the suite's order (longest first, conftest.py), not
# by how many tests each holds, which would start the one-test closed loop last.
TEST_WORKERS ?= auto

.PHONY: help uv install demo status test lint format ui mlflow serve loop loop-ui bench clean clean-loop \
	team-up team-demo team-down team-status team-env

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"

install: uv  ## Create .venv from the lock file (Python 3.11)
	@$(UV) sync --frozen --python 3.11
	@mkdir -p "$(DAGSTER_HOME)"
	@# Never over an instance configured with storage (the team stack's, on Postgres).
	@grep -qs '^storage:' "$(DAGSTER_HOME)/dagster.yaml" || cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

# One line per finished step, then the result summary (Dagster's full log goes to a file
# under $(CHURN_HOME)/logs; CHURN_LOG_LEVEL=debug also prints its event log on stderr).
demo: install  ## Install, then materialize the whole asset graph on the built-in simulator
	@$(UV) run --frozen python -m churn_assets.console demo --job churn_pipeline
	@echo "State is in $(CHURN_HOME); 'make ui' and 'make mlflow' explore it, 'make status' sums it up."

status: install  ## Champion and challenger, the last run of each job, drift, open alerts
	@$(UV) run --frozen python -m churn_assets.console status

test: install  ## Install, then run lint, the definitions check and the whole test suite
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen dg check defs
	$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

lint: install  ## ruff check + format check
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: install  ## Apply ruff fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

ui: install  ## Open the Dagster UI on http://127.0.0.1:3000
	$(UV) run --frozen dg dev --host 127.0.0.1 --port 3000

mlflow: install  ## Open the MLflow UI on http://127.0.0.1:5000 (local store under CHURN_HOME)
	$(UV) run --frozen mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri "sqlite:///$(CHURN_HOME)/mlflow/mlflow.db"

serve: install  ## Serve the champion's bento on http://127.0.0.1:$(PORT) (PORT=3001, WORKERS=1)
	OMP_NUM_THREADS=1 CHURN_SERVICE_WORKERS=$(WORKERS) \
		$(UV) run --frozen bentoml serve churn_service:latest --host 127.0.0.1 --port $(PORT)

# The loop plays in its own home, so it never mixes with `make demo`'s registry.
LOOP_HOME := $(CURDIR)/.churn-loop
loop loop-ui: export CHURN_HOME := $(LOOP_HOME)
loop loop-ui: export DAGSTER_HOME := $(LOOP_HOME)/dagster
loop loop-ui: export BENTOML_HOME := $(LOOP_HOME)/bentoml
loop loop-ui: export CHURN_DATA_URI := $(LOOP_HOME)/landing
loop: install  ## Play 6 simulated months on the real Dagster daemon in .churn-loop (then: make loop-ui)
	@test ! -d "$(LOOP_HOME)/landing" || { echo "$(LOOP_HOME) has been played: make clean-loop first"; exit 1; }
	$(UV) run --frozen python -m churn_assets.scenario

loop-ui: install  ## Dagster UI on the loop's instance (http://127.0.0.1:3000)
	$(UV) run --frozen dg dev --host 127.0.0.1 --port 3000

clean-loop:  ## Delete the loop's state (.churn-loop)
	rm -rf "$(LOOP_HOME)"

# The team stack: Postgres, an S3 server, the MLflow server, dagster-daemon and the webserver,
# all under one folder (docs/deployment.md). team-down stops them and keeps the data.
export CHURN_TEAM_HOME ?= $(CURDIR)/.churn-team
team-up: install  ## Start the team stack (idempotent) and print its URLs
	@$(UV) run --frozen python -m churn_assets.team up

team-demo: install  ## Run churn_pipeline on the team stack through the daemon (starts it if needed)
	@$(UV) run --frozen python -m churn_assets.team demo

team-down:  ## Stop everything team-up started (its data stays in .churn-team)
	@$(UV) run --frozen python -m churn_assets.team down

team-status:  ## Which services of the team stack run
	@$(UV) run --frozen python -m churn_assets.team status

team-env:  ## Print the stack's settings as exports: eval "$$(make -s team-env)"
	@$(UV) run --frozen python -m churn_assets.team env

bench: install  ## Run the benchmarks (about 25 minutes)
	$(UV) run --frozen python benchmarks/simulator.py
	$(UV) run --frozen python benchmarks/pipeline.py
	$(UV) run --frozen python benchmarks/definitions_load.py
	$(UV) run --frozen python benchmarks/threads.py
	$(UV) run --frozen python benchmarks/parallel_tuning.py
	$(UV) run --frozen python benchmarks/model_quality.py
	$(UV) run --frozen python benchmarks/serving.py
	$(UV) run --frozen python benchmarks/drift.py
	$(UV) run --frozen python benchmarks/closed_loop.py

clean:  ## Delete all platform state (CHURN_HOME)
	rm -rf "$(CHURN_HOME)"
