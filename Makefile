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
DEVICE ?=
QUIET ?=
STRICT ?=
# Where to take PyTorch from before requirements.txt: on Linux, PyPI's torch is a CUDA build of
# several GB; TORCH_INDEX=https://download.pytorch.org/whl/cpu takes the CPU build instead.
TORCH_INDEX ?=

DATA_ARG     := $(if $(DATA),--data-dir $(DATA))
EXECUTOR_ARG := $(if $(EXECUTOR),--executor $(EXECUTOR))
WORKERS_ARG  := $(if $(WORKERS),--workers $(WORKERS))
DEVICE_ARG   := $(if $(DEVICE),--device $(DEVICE))
QUIET_ARG    := $(if $(QUIET),--quiet)
STRICT_ARG   := $(if $(STRICT),--strict)
TRAIN_ARGS   := $(DATA_ARG) $(EXECUTOR_ARG) $(WORKERS_ARG) $(DEVICE_ARG) $(QUIET_ARG)

# `make test` runs the scorer's tests a second time on a real Python 3.7 with numpy 1.17, the
# versions of CodaLab's codalab-legacy:py37 image, in .venv37 (tests/requirements-py37.txt),
# when the machine has a Python 3.7: scripts/find-python37.sh looks in pyenv, then on PATH
# (looked up once, and only by the targets that need it). PYTHON37=/path/to/python3.7 names
# one; PYTHON37= skips that run.
PYTHON37 ?= $(eval PYTHON37 := $$(shell sh scripts/find-python37.sh))$(PYTHON37)
VENV37   := .venv37
STAMP37  := $(VENV37)/.installed
REQ37    := tests/requirements-py37.txt
# tests/conftest.py serves the generator's tests (Python 3.11, PyYAML); the scorer's tests do
# not use it, hence --noconftest.
TEST37 = SCORER_EXPECT_PYTHON=3.7 SCORER_EXPECT_NUMPY=$(shell sed -n 's/^numpy==//p' $(REQ37)) \
	$(VENV37)/bin/python -m pytest -q --noconftest tests/test_scorer_*.py
SKIP37 = skipped the scorer tests on Python 3.7 with numpy 1.17: no Python 3.7 found (looked \
	in pyenv and for python3.7 on PATH; PYTHON37=/path/to/python3.7 names one)

.PHONY: help venv generate export bundle check-bundle test lint format status clean
.PHONY: venv37 test37

# `make` alone, or `make help`: what each target does and the variables it reads.
help:
	@echo 'make bundle        train what is missing, export, report, write bundles/ (the demo by default)'
	@echo 'make check-bundle  check bundles/ against the platforms'"'"' rules and score sample submissions'
	@echo 'make test          the test suite (then the scorer'"'"'s tests on Python 3.7, if found)'
	@echo 'make generate | export | status    one step of bundle on its own'
	@echo 'make lint | format | clean         ruff; remove store/, bundles/, build/, reference_data/'
	@echo 'variables: PRESET=$(PRESET) STORE=$(STORE) BUNDLES=$(BUNDLES) DATA= EXECUTOR= WORKERS= DEVICE= QUIET=1'
	@echo '           STRICT=1 (bundle: exit 1 when a calibration report raises a flag)'
	@echo '           TORCH_INDEX=https://download.pytorch.org/whl/cpu (CPU PyTorch on a machine without a GPU)'
	@echo '           PYTHON37=/path/to/python3.7 (or PYTHON37= to skip the Python 3.7 run)'

$(STAMP): requirements.txt starting_kit/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q --disable-pip-version-check --index-url '$(TORCH_INDEX)' "$$(grep '^torch==' requirements.txt)")
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e ./starting_kit
	touch $(STAMP)

venv: $(STAMP)

$(STAMP37): $(REQ37)
	@test -n "$(PYTHON37)" || { echo "no Python 3.7 found; set PYTHON37=/path/to/python3.7" >&2; exit 1; }
	$(VENV37)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 7))' 2>/dev/null \
		|| $(PYTHON37) -m venv --clear $(VENV37)
	$(VENV37)/bin/python -m pip install -q --disable-pip-version-check --only-binary=:all: -r $(REQ37)
	touch $(STAMP37)

venv37: $(STAMP37)
	@:

generate: venv
	$(BIN)/python -m generator generate --preset $(PRESET) --store $(STORE) $(TRAIN_ARGS)

status: venv
	$(BIN)/python -m generator status --preset $(PRESET) --store $(STORE) $(DATA_ARG)

export: venv
	$(BIN)/python -m generator export --preset $(PRESET) --store $(STORE) $(DATA_ARG)

# Generate (skipping finished models), export, report and write every bundle under $(BUNDLES)/.
bundle: venv
	$(BIN)/python -m generator bundle --preset $(PRESET) --store $(STORE) --out $(BUNDLES) $(TRAIN_ARGS) $(STRICT_ARG)

check-bundle: venv
	$(BIN)/python -m generator check-bundle --preset $(PRESET) --bundles $(BUNDLES)

# The main suite, then the scorer's tests on Python 3.7 (or one line saying why not). In the
# main suite SCORER_TEST_PYTHONS also runs the scorer as the platform does with .venv37's
# python, and compares its scores with this interpreter's.
test: venv
	+@$(if $(PYTHON37),$(MAKE) --no-print-directory venv37 PYTHON37='$(PYTHON37)',:)
	$(if $(PYTHON37),SCORER_TEST_PYTHONS='$(CURDIR)/$(VENV37)/bin/python' )$(BIN)/python -m pytest -q
	$(if $(PYTHON37),$(TEST37),@echo '$(SKIP37)')

# Only the second part: the scorer's tests on Python 3.7 with numpy 1.17.
test37:
	+@$(if $(PYTHON37),$(MAKE) --no-print-directory venv37 PYTHON37='$(PYTHON37)',:)
	$(if $(PYTHON37),$(TEST37),@echo '$(SKIP37)')

lint: venv
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: venv
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .

clean:
	rm -rf $(STORE) $(BUNDLES) build reference_data
