# Two commands for a fresh machine: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test stop lint install browser postgres clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "enforce needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/enforce dev up
	$(BIN)/enforce dev demo

stop:
	@if [ -x $(BIN)/enforce ]; then $(BIN)/enforce dev down; else echo "nothing to stop"; fi

# The browser test drives Debian's Chromium, installed here when missing (as root, with apt-get).
browser:
	sh scripts/ensure-chromium.sh

# The event store tests start a private PostgreSQL cluster from Debian's binaries, installed here when missing.
postgres:
	sh scripts/ensure-postgres.sh

test: $(STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: stop
	rm -rf $(VENV) .data
