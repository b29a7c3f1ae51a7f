# tide: `make run` starts an example, `make test` runs every test, `make bench` compares with peers.
SWIFT ?= swift
BIN := .build/release/tide
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release run test test-lua test-swift bench clean

# Installs what a fresh machine lacks: the Lua 5.4 library and interpreter (Debian packages).
deps:
	@if ! pkg-config --exists lua5.4 2>/dev/null || ! command -v lua5.4 >/dev/null; then \
		echo "installing liblua5.4-dev lua5.4 pkg-config (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq liblua5.4-dev lua5.4 pkg-config >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product tide

# Runs the example flows of examples/ once each with `tide exec` (the daemon arrives with issue 3).
run: release
	@echo "== tide $$($(BIN) --version): running examples/flows/fetch-three.lua"
	@cd examples && TIDE_HOME=. ../$(BIN) exec flows/fetch-three.lua --payload '{"user":"ada"}'
	@echo
	@echo "Run the other examples the same way, e.g.:"
	@echo "  $(BIN) exec examples/flows/primary-backup.lua"
	@echo "  $(BIN) exec examples/flows/process-items.lua --payload '{\"count\":1000}'"
	@echo "  $(BIN) exec examples/flows/saga.lua --payload '{\"fail_at\":\"ship\"}'"
	@echo "  $(BIN) check examples/flows/*.lua"

test: deps test-lua test-swift

test-lua:
	lua5.4 Tests/LuaTests/json_test.lua Sources/TideLua/lua/json.lua

test-swift:
	$(SWIFT) build
	$(SWIFT) test

bench: deps release
	scripts/bench

clean:
	rm -rf .build
