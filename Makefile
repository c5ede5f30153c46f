# One entry point for developers and CI.
#   make run    install what is needed and start a node on port 7000 (PORT=... to change)
#   make test   install what is needed and run the whole test suite
#   make bench  compare Shoal with redis-server (see bench/README.md)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7000
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: sysdeps venv run test bench clean

# Debian's redis-server is the reference the differential tests compare with; redis-tools brings redis-cli and
# redis-benchmark. Installed only when missing.
sysdeps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
	    || ! command -v redis-benchmark >/dev/null || ! $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null; then \
	  echo "installing system packages: redis-server redis-tools python3-venv"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server redis-tools python3-venv >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: sysdeps venv
	$(VENV)/bin/shoal-node --port $(PORT)

test: sysdeps venv
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: sysdeps venv
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
