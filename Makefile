# maildetour: make demo | make test | make test-fast | make bench | make lint | make proxy | make lab
# Finds a Python >= 3.12 by itself: $(PYTHON) if set, else python3.13/python3.12/python3, else pyenv.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	  && { command -v $$p; exit 0; }; done; \
	  ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V | tail -n 1)
VENV := .venv
PY := $(VENV)/bin/python
MD := $(VENV)/bin/maildetour
OUT := out

.PHONY: venv demo test test-fast bench lint proxy lab clean

venv: $(VENV)/.installed

# setuptools reports every editable install with a warning ("Editable installation. Please be careful ..."):
# PYTHONWARNINGS drops that one message by its text; every other warning still shows.
$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (set PYTHON=/path/to/python3.12)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: venv
	@mkdir -p $(OUT)
	$(PY) -m analysis.demo $(OUT)

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

bench: venv
	$(PY) -m bench.capture
	$(PY) -m bench.proxy
	$(PY) -m bench.batch

lint: venv
	$(VENV)/bin/ruff check .

# make proxy CASE=case.toml [PROXY_MODE=socks5@127.0.0.1:1080] [ARGS="--set maildetour_block=quic"]
PROXY_MODE ?= wireguard
proxy: venv
	@mkdir -p $(OUT)
	$(VENV)/bin/mitmdump -s addons/maildetour.py --mode $(PROXY_MODE) $(if $(CASE),--set maildetour_case=$(CASE)) \
	  --set maildetour_jsonl=$(OUT)/live.jsonl --set maildetour_report=$(OUT)/live-report.json \
	  -w +$(OUT)/live.mitm $(ARGS)

SCENARIO ?= relayed
lab: venv
	$(MD) lab run $(SCENARIO) --out $(OUT)/lab-$(SCENARIO) $(LAB_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
