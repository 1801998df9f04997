# The two commands of the README:
#   make demo   install everything, build the demo store, run the analysis, serve the web map
#   make test   install everything (test tools and Chromium too) and run the whole test suite
PYTHON ?= python3
PORT ?= 5000
AREA ?= nanjing_xinjiekou
APT_PACKAGES = gdal-bin chromium fonts-noto-cjk
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test install install-system install-python install-web lint

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

# Front-end packages from npm (no install scripts run), then the few dist files the web map
# serves, copied into webmap/static/vendor/ (git-ignored): no CDN at run time.
VENDOR = webmap/static/vendor
install-web:
	@if [ -f package.json ]; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; fi
	@mkdir -p $(VENDOR)/leaflet $(VENDOR)/leaflet-geoman $(VENDOR)/swagger-ui
	@cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
	  node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	@cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js \
	  node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css $(VENDOR)/leaflet-geoman/
	@cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	  $(VENDOR)/swagger-ui/
