# `make app`: set up (first time only) and serve the dashboard on the embedded default.
# `make test`: set up (first time only) and run the test suite. CI runs `make test` via .ci/run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: setup app test clean-venv

setup: $(STAMP)

# Reinstalls only when a requirements file changed since the last install.
$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "saeviz needs Python 3.11+"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# sae_bench and sae_probes without their torchvision pin (see README, Installation)
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
