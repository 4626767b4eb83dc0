# hdfbench: `make run` (quickstart sweep), `make test` (whole test suite), `make test-fast` (without the
# slow tests) and `make lint` (ruff lint and format check, mypy).
# Each creates .venv with pip on first use and reinstalls when pyproject.toml or constraints.txt changes;
# the install is the exact pinned set of constraints.txt. The quiet settings for Ray and MLflow are not
# set here: the hdfbench command and the test suite apply them (hdfbench/_quiet.py).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test test-fast lint clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing hdfbench and its pinned dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --upgrade pip > $(VENV)/install.log 2>&1 \
		&& $(BIN)/python -m pip install -c constraints.txt -e ".[dev]" >> $(VENV)/install.log 2>&1 \
		|| { tail -n 40 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/hdfbench run experiments/quickstart.yaml
	$(BIN)/hdfbench analyze results/quickstart

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check hdfbench tests benchmarks
	$(BIN)/ruff format --check hdfbench tests benchmarks
	$(BIN)/mypy hdfbench

clean:
	rm -rf $(VENV) results/quickstart analysis/quickstart .pytest_cache
