# The two commands of the README:
#   make demo   install everything, build the demo store, run the analysis, serve the web map
#   make test   install everything (test tools and Chromium too) and run the whole test suite
PYTHON ?= python3
PORT ?= 5000
AREA ?= nanjing_xinjiekou
APT_PACKAGES = gdal-bin chromium
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test install install-system install-python install-web lint serve

demo: install
	$(PYTHON) -m planner.cli demo --area $(AREA)
	$(PYTHON) -m planner.cli serve layers/demo.gpkg --port $(PORT)

test: install lint
	$(PYTHON) -m pytest -n 2 --dist loadfile -q -ra

lint:
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .

install: install-system install-python install-web

install-system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

install-python:
	$(PYTHON) -m pip install -q -e ".[test]"

install-web:
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
