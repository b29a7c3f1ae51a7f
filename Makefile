# tide: `make run` starts an example, `make test` runs every test, `make bench` compares with peers.
# `make help` lists every target.
SWIFT ?= swift
# The release build has its own build folder, so a debug build and tests never wait for it.
RELEASE_SCRATCH := .build-release
BIN := $(RELEASE_SCRATCH)/release/tide
# Every release product is built alike: a product linked otherwise would reuse objects compiled
# for the static runtime and fail to link.
RELEASE_FLAGS := -c release --static-swift-stdlib --scratch-path $(RELEASE_SCRATCH) -Xlinker -s
# Where `make install` puts the binary (on PATH for most login shells).
PREFIX ?= $(HOME)/.local
# The longest `swift test` may take before it and everything it started are stopped (seconds).
TEST_BUDGET ?= 1500
# The outside reference the schedule tests compare with: Python's croniter from PyPI, in .venv/.
VENV := .venv
CRONITER_PYTHON := $(CURDIR)/$(VENV)/bin/python3
CRONITER_VERSION ?= 7.0.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# `make fuzz`: libFuzzer targets (Fuzz/, docs/fuzzing.md), each run FUZZ_SECONDS, built with ASan
# in their own folder so that `swift build` and `make test` never build them.
FUZZ_SECONDS ?= 60
FUZZ_SCRATCH := .build-fuzz
FUZZ_SWIFT := RPCFuzz CronFuzz DurationFuzz
FUZZ_LUA := json units
FUZZ_TARGETS := $(FUZZ_SWIFT) $(FUZZ_LUA)
FUZZ_CLANG ?= $(dir $(shell command -v $(SWIFT)))clang
# -timeout: an input that takes 10 s is a hang; -max_len: a request line is at most 1 MiB, and
# longer inputs than 64 KiB find nothing new here but slow every execution.
FUZZ_FLAGS = -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=65536 -print_final_stats=1 \
	-artifact_prefix=$(FUZZ_SCRATCH)/artifacts/$*- $(FUZZ_EXTRA)

.PHONY: help deps lua-modules croniter build release install check-release run test test-lua test-swift bench clean \
	fuzz fuzz-build fuzz-merge $(addprefix fuzz-,$(FUZZ_TARGETS)) $(addprefix fuzz-merge-,$(FUZZ_TARGETS))

help:
	@echo "tide: make targets"
	@echo "  make run            install what is missing, build (release, ~11 min the first time), serve examples/"
	@echo "  make test           install what is missing, build (debug, ~9 min the first time), run every test"
	@echo "  make install        install the release binary as $(PREFIX)/bin/tide (PREFIX=... to change)"
	@echo "  make release        build the release binary $(BIN) (static Swift runtime, stripped)"
	@echo "  make check-release  build it and run it with the Swift toolchain out of reach"
	@echo "  make bench          the benchmarks against the peers (Node, xargs, lua5.4, croniter, ...)"
	@echo "  make fuzz           fuzz the protocol, cron, duration/size and json parsers, FUZZ_SECONDS=60 each (docs/fuzzing.md)"
	@echo "  make fuzz-merge     minimize what make fuzz found into the committed corpus Fuzz/corpus/"
	@echo "  make clean          remove the build folders"

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
		rm -rf $(VENV); \
		python3 -m venv $(VENV) 2>/dev/null || { echo "installing python3-venv (apt-get)"; \
			$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(VENV); }; \
		$(VENV)/bin/pip install -q croniter==$(CRONITER_VERSION); \
	fi

build: deps
	$(SWIFT) build

# The shipped binary: the Swift runtime and Foundation linked in statically and the symbols
# stripped, so it runs on a machine without the toolchain (packaging/tide.service installs it).
release: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product tide

install: release
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) $(PREFIX)/bin/tide
	@echo "installed $(PREFIX)/bin/tide"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on your PATH; add it, e.g. export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

# Runs the release binary where the toolchain's folder is hidden (a mount namespace), so a
# library loaded from it would fail to load: it must run an example flow and a daemon alone.
check-release: release
	scripts/check-release $(BIN)

# Starts the daemon on the runnable home in examples/ (Ctrl-C stops it gracefully).
run: release
	@echo "== tide $$($(BIN) --version) serving examples/ (Ctrl-C stops it). In a second terminal:"
	@echo "  $(CURDIR)/$(BIN) run fetch-three --home $(CURDIR)/examples --payload '{\"user\":\"ada\"}'"
	@echo "  $(CURDIR)/$(BIN) flows --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) plugins --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) runs --home $(CURDIR)/examples"
	@echo "  $(CURDIR)/$(BIN) show RUN_ID --home $(CURDIR)/examples"
	@echo "  or, to type just 'tide': make install, then"
	@echo "  export TIDE_HOME=$(CURDIR)/examples; tide run saga --payload '{\"fail_at\":\"ship\"}'"
	@echo
	@exec $(BIN) serve --home examples

test: deps lua-modules test-lua test-swift

test-lua:
	lua5.4 Tests/LuaTests/json_test.lua Sources/TideLua/lua/json.lua

# At most 24 test cases at once (Swift Testing 6.3's cap; unset, all ~700 start together): a test's
# waits start when it runs, not while hundreds of others hold the two cooperative threads.
# scripts/run-bounded: the tests get TEST_BUDGET seconds, and whatever they started and left
# running (a daemon, a command) is killed when they end, however they end.
test-swift: croniter
	$(SWIFT) build
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=24 TIDE_CRONITER_PYTHON=$(CRONITER_PYTHON) \
		scripts/run-bounded $(TEST_BUDGET) $(SWIFT) test

bench: deps croniter release
	$(SWIFT) build $(RELEASE_FLAGS) --product tide-bench-schedule
	$(SWIFT) build $(RELEASE_FLAGS) --product tide-bench-http-server
	scripts/bench
	scripts/bench-daemon
	scripts/bench-reload
	scripts/bench-schedule
	scripts/bench-dispatch
	scripts/bench-http

# The Swift targets: Package.swift declares them only under TIDE_FUZZ=1. SwiftPM owns main, so
# each target's top level calls LLVMFuzzerRunDriver (Fuzz/CFuzzDriver).
# The Lua targets: one C harness (Fuzz/lua/fuzz_lua.c) with a driver chunk per target, against
# the system Lua; the driver reads the Lua sources from Sources/TideLua/lua at start-up.
fuzz-build: deps
	@for t in $(FUZZ_SWIFT); do \
		TIDE_FUZZ=1 $(SWIFT) build -c release --scratch-path $(FUZZ_SCRATCH) \
			-Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product $$t || exit 1; \
	done
	@mkdir -p $(FUZZ_SCRATCH)/lua
	@for t in $(FUZZ_LUA); do \
		$(FUZZ_CLANG) -g -O1 -fsanitize=fuzzer,address -fuse-ld=lld \
			-DTIDE_FUZZ_DRIVER='"$(CURDIR)/Fuzz/lua/'$$t'_driver.lua"' -DTIDE_LUA_DIR='"$(CURDIR)/Sources/TideLua/lua"' \
			$$(pkg-config --cflags lua5.4) Fuzz/lua/fuzz_lua.c $$(pkg-config --libs lua5.4) -o $(FUZZ_SCRATCH)/lua/$$t || exit 1; \
	done

fuzz_binary = $(if $(filter $(1),$(FUZZ_LUA)),$(FUZZ_SCRATCH)/lua/$(1),$(FUZZ_SCRATCH)/release/$(1))

# New inputs go to $(FUZZ_SCRATCH)/corpus/<target>; the committed corpus is read, not written.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || exit 1; done

$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%:
	@mkdir -p $(FUZZ_SCRATCH)/corpus/$* $(FUZZ_SCRATCH)/artifacts Fuzz/corpus/$*
	@echo "== fuzz $* for $(FUZZ_SECONDS) s"
	$(call fuzz_binary,$*) $(FUZZ_FLAGS) $(FUZZ_SCRATCH)/corpus/$* Fuzz/corpus/$*

# A small set of inputs with the features of the committed corpus and of what make fuzz found
# (a set cover: about half the files of -merge=1), back into Fuzz/corpus/<target>; commit it.
# Inputs named crash-* (ones that found a bug) stay whatever they cover.
fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-merge-$$t || exit 1; done

$(addprefix fuzz-merge-,$(FUZZ_TARGETS)): fuzz-merge-%:
	@rm -rf $(FUZZ_SCRATCH)/merged/$* && mkdir -p $(FUZZ_SCRATCH)/merged/$* $(FUZZ_SCRATCH)/corpus/$* Fuzz/corpus/$*
	@$(call fuzz_binary,$*) -set_cover_merge=1 -max_len=65536 $(FUZZ_SCRATCH)/merged/$* Fuzz/corpus/$* $(FUZZ_SCRATCH)/corpus/$* 2>&1 \
		| grep "MERGE-OUTER: [0-9]* new files" | sed 's/^/$*: /'
	@find Fuzz/corpus/$* -type f ! -name 'crash-*' -delete && cp $(FUZZ_SCRATCH)/merged/$*/* Fuzz/corpus/$*/
	@echo "$*: $$(ls Fuzz/corpus/$* | wc -l) files in Fuzz/corpus/$*"

clean:
	rm -rf .build $(RELEASE_SCRATCH) $(FUZZ_SCRATCH)
