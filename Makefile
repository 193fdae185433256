# One entry point for humans and CI. Every target sets itself up (make setup) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

BOARD ?= esp32s3_st7789
PORT  ?=
DRY_RUN ?=
SCENARIO ?= default
SPEED ?= 300
# Tests run in parallel: each file whole in one worker (a firmware file is one interpreter
# process), each system test on its own, the longest first (tests/fwplugin.py schedules them).
# The system tests mostly wait on simulated time (two take ~5 minutes each), so 6 workers on
# 2 cores: three run the longest tests, three everything else meanwhile.
JOBS ?= 6

.PHONY: setup upy32 upy32-compile run test check bench flash screenshots clean
.DEFAULT_GOAL := test

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m host_tools.toolchain check
	$(BIN)/python -m host_tools.toolchain stubs
	@touch $@

# 32-bit unix port (plain and firmware-frozen) from the vendored source; cached: a no-op when nothing changed
upy32: setup
	$(BIN)/python -m host_tools.upy32 build

run: setup
	$(BIN)/python -m host_tools.run --scenario $(SCENARIO) --speed $(SPEED)

# Before the session: the frozen 32-bit build (the longest tests need it from the start), compiled
# by the system python while pip fills the venv, then checked with the venv's tools; the plain
# 32-bit one is built (cached, under a lock) by the first test that needs it.
test:
	@$(MAKE) --no-print-directory -j2 setup upy32-compile
	$(BIN)/python -m host_tools.upy32 build --kind unix32-frozen
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

upy32-compile:
	$(PYTHON) -m host_tools.upy32 build --kind unix32-frozen --compile-only

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check firmware host_tools boards tests
	$(BIN)/python -m host_tools.toolchain pyright

bench: setup upy32
	$(BIN)/python -m host_tools.bench

flash: setup
	$(BIN)/python -m host_tools.flash --board $(BOARD) $(if $(PORT),--port $(PORT)) $(if $(DRY_RUN),--dry-run)

screenshots: setup
	$(BIN)/python -m host_tools.screens --all --out build/screens

clean:
	rm -rf build .pytest_cache .ruff_cache
