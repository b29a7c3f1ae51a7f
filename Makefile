# tide: `make run` starts an example, `make test` runs every test, `make bench` compares with peers.
SWIFT ?= swift
BIN := .build/release/tide
# The outside reference the schedule tests compare with: Python's croniter from PyPI, in .venv/.
VENV := .venv
CRONITER_PYTHON := $(CURDIR)/$(VENV)/bin/python3
CRONITER_VERSION ?= 7.0.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps lua-modules croniter build release run test test-lua test-swift bench clean

# Installs what a fresh machine lacks: the Lua 5.4 library and interpreter (Debian packages).
deps:
	@if ! pkg-config --exists lua5.4 2>/dev/null || ! command -v lua5.4 >/dev/null; then \
		echo "installing liblua5.4-dev lua5.4 pkg-config (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq liblua5.4-dev lua5.4 pkg-config >/dev/null; \
	fi

# Lua C modules from Debian that the plugin tests load (Tests/TideCLITests/PluginTests.swift):
# lua-cjson puts cjson.so for Lua 5.4 under /usr/lib/<arch>/lua/5.4/.
lua-modules:
	@if ! dpkg -s lua-cjson >/dev/null 2>&1; then \
		echo "installing lua-cjson (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq lua-cjson >/dev/null; \
	fi

# Creates .venv/ with croniter when it lacks it (Tests/TideScheduleTests/CroniterReferenceTests.swift).
croniter:
	@if ! $(CRONITER_PYTHON) -c 'import croniter' 2>/dev/null; then \
		echo "installing croniter $(CRONITER_VERSION) into $(VENV)/ (pip)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q croniter==$(CRONITER_VERSION); \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product tide

# Starts the daemon on the runnable home in examples/ (Ctrl-C stops it gracefully).
run: release
	@echo "== tide $$($(BIN) --version) serving examples/ (Ctrl-C stops it). In a second terminal:"
	@echo "  $(CURDIR)/$(BIN) run fetch-three --home $(CURDIR)/examples --payload '{\"user\":\"ada\"}'"
	@echo "  $(CURDIR)/$(BIN) flows --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) plugins --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) runs --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) show RUN_ID --home $(CURDIR)/examples"
	@echo "  (or: export TIDE_HOME=$(CURDIR)/examples, then tide run saga --payload '{\"fail_at\":\"ship\"}')"
	@echo
	@exec $(BIN) serve --home examples

test: deps lua-modules test-lua test-swift

test-lua:
	lua5.4 Tests/LuaTests/json_test.lua Sources/TideLua/lua/json.lua

# At most 24 test cases at once (Swift Testing 6.3's cap; unset, all ~700 start together): a test's
# waits start when it runs, not while hundreds of others hold the two cooperative threads.
test-swift: croniter
	$(SWIFT) build
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=24 TIDE_CRONITER_PYTHON=$(CRONITER_PYTHON) $(SWIFT) test

bench: deps croniter release
	$(SWIFT) build -c release --product tide-bench-schedule
	$(SWIFT) build -c release --product tide-bench-http-server
	scripts/bench
	scripts/bench-daemon
	scripts/bench-reload
	scripts/bench-schedule
	scripts/bench-dispatch
	scripts/bench-http

clean:
	rm -rf .build
