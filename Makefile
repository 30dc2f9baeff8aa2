# Retorno: `make run` starts the assistant locally, `make test` runs every check.
# Everything (virtual environment, model) is created on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.10
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/retorno.tar.gz
GENERATED := bot/domain/generated/content.yml
TRAINING_INPUTS := config.yml $(shell find bot nlu content -name '*.yml' -not -path 'bot/domain/generated/*' 2>/dev/null) $(GENERATED)

# Local defaults; override any of them in the environment (README, "Configuration").
export RASA_TELEMETRY_ENABLED ?= false
export TF_CPP_MIN_LOG_LEVEL ?= 2
export RASA_PORT ?= 5005
export ACTION_PORT ?= 5055
export ACTION_ENDPOINT_URL ?= http://localhost:$(ACTION_PORT)/webhook
export TRACKER_STORE_DIALECT ?= sqlite
export TRACKER_STORE_URL ?= sqlite:///data/tracker.db
export SANIC_WORKERS ?= 1
export DATABASE_URL ?= sqlite:///data/retorno.db
# Local encryption and pseudonymous-id keys, created once (production sets the variables).
LOCAL_ENV := data/local.env

.PHONY: help venv content train run run-actions chat test test-unit validate test-stories nlu-gate content-check bench clean browser

help:
	@echo "make run    - set up, train if needed, start the assistant on http://localhost:$(RASA_PORT)"
	@echo "make chat   - talk to the running assistant in this terminal"
	@echo "make test   - set up and run every test and check (what CI runs)"
	@echo "make bench  - measure NLU quality, latency, throughput, memory and training time"

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip<25"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

$(LOCAL_ENV): | $(VENV)/.installed
	@mkdir -p data
	@umask 077; { echo "RETORNO_DATA_KEYS=$$($(BIN)/python -m actions.storage.keys new)"; \
		echo "RETORNO_ID_KEY=$$($(BIN)/python -m actions.storage.keys new)"; } > $@
	@echo "created $@: local encryption and id keys (keep it secret; never commit it)"

content: $(GENERATED)
$(GENERATED): $(VENV)/.installed $(shell find content -name '*.yml' 2>/dev/null) actions/services/content.py
	$(BIN)/python -m actions.services.content build

train: $(MODEL)
$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS) $(wildcard nlu/*.py)
	$(BIN)/rasa train --config config.yml --domain bot/domain --data nlu bot/data \
		--out models --fixed-model-name retorno

run: $(MODEL) $(LOCAL_ENV)
	@mkdir -p data
	@[ -n "$$RETORNO_DATA_KEYS" ] || { set -a; . ./$(LOCAL_ENV); set +a; }; \
		$(BIN)/python -m actions.storage.migrate
	@echo "Starting the action server on :$(ACTION_PORT) and Rasa on :$(RASA_PORT)..."
	@echo "When Rasa says 'Rasa server is up and running', chat in another terminal with: make chat"
	@echo "or: curl -s localhost:$(RASA_PORT)/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"hola\"}'"
	@echo "or open the web chat: http://localhost:$(RASA_PORT)/webhooks/webchat/ (?ref=CONS-LA01&lang=en: a consulate's link)"
	@[ -n "$$RETORNO_DATA_KEYS" ] || { set -a; . ./$(LOCAL_ENV); set +a; }; \
	trap 'kill 0' EXIT INT TERM; \
	$(BIN)/rasa run actions --actions actions --port $(ACTION_PORT) & \
	$(BIN)/rasa run --model $(MODEL) --endpoints bot/endpoints.yml --credentials bot/credentials.yml \
		--port $(RASA_PORT)

chat: $(VENV)/.installed
	$(BIN)/python -m channels.console

test: $(MODEL) browser content-check test-unit validate test-stories nlu-gate
	@echo "All checks passed."

# The web chat's browser tests drive Debian's Chromium with Playwright (which cannot download
# its own browsers here). Installed when running as root; otherwise say how.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
			{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
		else echo "Chromium is missing: run 'sudo apt-get install -y chromium'" \
			"(the web chat's browser tests are skipped without it)"; fi; }

content-check: $(VENV)/.installed
	$(BIN)/python -m actions.services.content check

test-unit: $(MODEL)
	$(BIN)/pytest

validate: $(GENERATED)
	$(BIN)/rasa data validate --config config.yml --domain bot/domain --data nlu bot/data \
		--fail-on-warnings

test-stories: $(MODEL)
	$(BIN)/rasa test core --model $(MODEL) --stories tests/conversations \
		--e2e --fail-on-prediction-errors --out results/core

nlu-gate: $(MODEL)
	$(BIN)/python -m bench.nlu_quality --model $(MODEL) --gate

bench: $(MODEL)
	$(BIN)/python -m bench.nlu_quality --model $(MODEL)
	$(BIN)/python -m bench.serve --model $(MODEL)
	$(BIN)/python -m bench.train_time

clean:
	rm -rf models results bot/domain/generated
