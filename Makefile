# The two commands of the README:
#   make demo   install what running needs, build the demo store, run the analysis, serve the map
#   make test   install that plus the test tools (Chromium, npm packages) and run the whole suite
#
# Python: when a virtual environment is active it is used; otherwise one is made in .venv/
# with $(PYTHON) (Debian's own python3 refuses pip outside one: PEP 668).
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
AREA ?= nanjing_xinjiekou
# gdal-bin: ogrinfo (reads the OGC API in tests); fonts-noto-cjk: Chinese labels in figures.
RUN_APT = gdal-bin fonts-noto-cjk
TEST_APT = $(RUN_APT) chromium poppler-utils postgresql postgresql-15-postgis-3
export PIP_DISABLE_PIP_VERSION_CHECK = 1

ifneq ($(VIRTUAL_ENV),)
PY := $(VIRTUAL_ENV)/bin/python
else
PY := $(VENV)/bin/python
endif

# The store `planner demo --area AREA` builds (and `make demo` serves).
ifeq ($(AREA),nanjing_xinjiekou)
STORE = layers/demo.gpkg
else
STORE = layers/$(AREA).gpkg
endif

.PHONY: demo test lint venv install-run install-test install-web docs docs-screenshots

demo: install-run
	$(PY) -m planner.cli demo --area $(AREA) --store $(STORE)
	$(PY) -m planner.cli serve $(STORE) --port $(PORT)

test: install-test lint
	$(PY) -m pytest -n 2 --dist loadfile -q -ra

# The documentation (docs/): Sphinx, warnings as errors, nothing fetched; tests/test_docs.py
# runs the same build. `make docs-screenshots` copies the browser tests' screenshots
# (artifacts/screenshots/, made by `make test`) to docs/_static/screenshots/ for the guides.
docs:
	$(PY) -m planner.cli.docs > docs/cli.md
	$(PY) -m sphinx -W -b html docs docs/_build/html

docs-screenshots:
	$(PY) docs/screenshots.py

lint:
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

# Debian packages of list $(1) this machine lacks, Node.js when $(2) is `node` and npm is
# missing, and python3-venv when no environment is active and $(PYTHON) cannot make one.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ "$(2)" = node ] && ! command -v npm >/dev/null 2>&1; then missing="$$missing nodejs npm"; fi; \
	if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(PY) ] && ! $(PYTHON) -c "import ensurepip, venv" 2>/dev/null; then \
	  missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

venv:
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(PY) ]; then \
	  echo "creating the virtual environment $(VENV)/ with $(PYTHON) (no environment is active)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi

install-run:
	$(call apt_install,$(RUN_APT))
	@$(MAKE) --no-print-directory venv
	$(PY) -m pip install -q -e .

install-test:
	$(call apt_install,$(TEST_APT),node)
	@$(MAKE) --no-print-directory venv
	$(PY) -m pip install -q -e ".[test]"
	@$(MAKE) --no-print-directory install-web

# Front-end packages from npm (no install scripts run). The files the map serves are
# vendored in webmap/static/vendor/ (so a wheel carries them); tests check them against
# package-lock.json and these node_modules. `make vendor` refreshes them after an upgrade.
VENDOR = webmap/static/vendor
install-web:
	@npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

.PHONY: vendor
vendor: install-web
	@mkdir -p $(VENDOR)/leaflet $(VENDOR)/leaflet-geoman $(VENDOR)/swagger-ui
	@cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
	  node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	@cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js \
	  node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css $(VENDOR)/leaflet-geoman/
	@cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	  $(VENDOR)/swagger-ui/
