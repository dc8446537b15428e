# ConvNet Studio: `make run` serves the app, `make test` runs ruff and the whole suite (both set up first),
# `make test-fast` all but the browser, training and slow tests, `make lint` ruff alone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-fast lint browser bench assets setup dev data clean

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

# The browser comes first: without it (and not root to install it) `make test` stops before any set-up.
test: browser setup dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m engine assets fetch  # the tests need the training data too: here a failed fetch stops
	$(PY) -m pytest -n auto --maxprocesses=4 --dist loadfile  # one file per worker: module fixtures load once

# Markers are declared in pyproject.toml; the browser tests are the ones under tests/e2e.
test-fast: setup dev
	$(PY) -m engine assets fetch
	$(PY) -m pytest -n auto --maxprocesses=4 --dist loadfile -m "not browser and not training and not slow"

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .  # `ruff format .` fixes it

# Debian's Chromium for the browser tests: installed when root, else one line naming the command.
browser:
	@tools/ensure_browser.sh

bench: setup dev
	$(PY) -m bench

setup: $(VENV)/.installed assets

dev: $(VENV)/.dev-installed

# Installs only when requirements change, so a second `make run` starts at once.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

# Already-present files are checked (SHA-256) and kept: no network needed the second time.
# The app needs the model files; the data files (MNIST, Fashion-MNIST from Debian's archive, tweets)
# feed training and the generated scenes, so a machine without apt-get still starts the app.
assets: $(VENV)/.installed
	$(PY) -m engine assets fetch --group models
	-$(PY) -m engine assets fetch --group data

# Training data that is made, not fetched: the audio notes need FluidSynth and the soundfonts
# (`apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont csound-soundfont`: FluidR3 for
# the notes, TimGM6mb for the instrument CNN's second training set, csound's bank for its held-out
# third-soundfont figure); the app and the tests do not.
data: setup
	$(PY) -m engine assets fetch --group data
	$(PY) -m engine render-notes

clean:
	rm -rf $(VENV)
