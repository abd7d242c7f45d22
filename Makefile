# `make app`: set up (first time only) and serve the dashboard on the embedded default.
# `make demo`: the same, opening the guided tour on precomputed results (no waiting).
# `make test`: set up (first time only) and run the test suite, browser test included. CI runs `make test` via .ci/run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium
SERVE  := $(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

.PHONY: setup chromium chromium-optional app demo test screenshots clean-venv

setup: $(STAMP) chromium

# Reinstalls only when a requirements file changed since the last install.
$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "saeviz needs Python 3.11+"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt -r requirements-dev.txt
	# sae_bench and sae_probes without their torchvision pin (see README, Installation)
	$(PY) -m pip install --quiet --no-compile --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# Figure export (Kaleido) and the browser test (Playwright) drive a local chromium; no browser download.
# Debian's package where apt-get is usable (CI runs as root on Debian), else a clear message.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium (figure export and the browser test need it)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		echo "installing Debian's chromium with sudo"; sudo apt-get install -y -q chromium; \
	else \
		echo "error: no chromium at $(CHROMIUM): install your system's chromium and run with CHROMIUM=/path/to/chromium" \
		     "(PNG/SVG/PDF export and the browser test need it)." >&2; exit 1; \
	fi

# The dashboard runs without chromium: only PNG/SVG/PDF export needs it (HTML, CSV, Parquet do not).
chromium-optional:
	@$(MAKE) --no-print-directory chromium || echo "warning: no chromium: the dashboard runs, but PNG/SVG/PDF export is off" >&2

app: $(STAMP) chromium-optional
	$(SERVE)

demo: $(STAMP) chromium-optional
	SAEVIZ_DEMO=1 $(SERVE)

# Test files on TEST_WORKERS processes (a file's tests stay together: the Ray module starts one cluster).
TEST_WORKERS ?= 2
test: setup
	SAEVIZ_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Rewrites docs/*.png with the browser test's screenshots of every page.
screenshots: setup
	SAEVIZ_CHROMIUM=$(CHROMIUM) SAEVIZ_SCREENSHOTS=docs $(PY) -m pytest tests/system/test_browser.py -q

clean-venv:
	rm -rf $(VENV)
