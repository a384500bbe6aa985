# mltui: `make run` opens the dashboard, `make test` runs the whole suite. Both create .venv and
# install everything on a fresh machine, and do nothing more on a second run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip
# apt-get needs root: sudo when there is one and we are not root (CI runners).
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null && echo sudo -n)

.PHONY: run test lint types unit bench e2e clean install

# pytest-xdist: one worker per CPU, at most 4 (a test may start several processes of its own).
# tests/conftest.py groups what must share a worker (the engines; modules with a shared fixture)
# and puts the long groups first; --no-loadscope-reorder keeps that order (xdist would sort the
# groups by their number of tests). PYTEST_WORKERS=0 runs in one process; PYTEST_ARGS selects
# (e.g. PYTEST_ARGS='tests/test_x.py').
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=
PYTEST_XDIST := -n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadgroup --no-loadscope-reorder

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[frameworks,dev,fleet]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mltui

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

# The fleet tests start real engines (Slurm: slurm-wlm and munge; OpenSSH's sshd): installed here.
test: $(STAMP)
	@command -v tmux >/dev/null || (apt-get update -qq && apt-get install -y -qq tmux >/dev/null) || true
	@(test -x /usr/sbin/slurmctld && test -x /usr/sbin/munged && test -x /usr/sbin/sshd) || \
	  ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	   slurm-wlm munge openssh-server openssh-client >/dev/null) || \
	  echo "make: could not install slurm-wlm/munge/openssh-server: the fleet engine tests will say so"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# pytest's exit 5 (no test collected) is said in words: a run that checked nothing never passes.
	@$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_XDIST) $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): nothing was checked" >&2; fi; \
	  exit $$status

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/check.py
	$(BIN)/python bench/collect_env.py
	$(BIN)/python bench/idle.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/keypress.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/fleet_pane.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
