# Organizer entry points. Every target creates or reuses .venv and installs the pinned
# dependencies itself, so `make bundle` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRESET ?= demo
DATA   ?=
STORE  ?= store
BUNDLES ?= bundles
EXECUTOR ?=
WORKERS ?=

DATA_ARG     := $(if $(DATA),--data-dir $(DATA))
EXECUTOR_ARG := $(if $(EXECUTOR),--executor $(EXECUTOR))
WORKERS_ARG  := $(if $(WORKERS),--workers $(WORKERS))

.PHONY: venv generate export report bundle check-bundle test lint format status clean

$(STAMP): requirements.txt starting_kit/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e ./starting_kit
	touch $(STAMP)

venv: $(STAMP)

generate: venv
	$(BIN)/python -m generator generate --preset $(PRESET) --store $(STORE) $(DATA_ARG) $(EXECUTOR_ARG) $(WORKERS_ARG)

status: venv
	$(BIN)/python -m generator status --preset $(PRESET) --store $(STORE) $(DATA_ARG)

export: venv
	$(BIN)/python -m generator export --preset $(PRESET) --store $(STORE) $(DATA_ARG)

# Generate (skipping finished models), export, report and write every bundle under $(BUNDLES)/.
bundle: venv
	$(BIN)/python -m generator bundle --preset $(PRESET) --store $(STORE) --out $(BUNDLES) $(DATA_ARG) $(EXECUTOR_ARG) $(WORKERS_ARG)

check-bundle: venv
	$(BIN)/python -m generator check-bundle --preset $(PRESET) --bundles $(BUNDLES)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: venv
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .

clean:
	rm -rf $(STORE) $(BUNDLES) build reference_data
