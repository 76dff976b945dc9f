# pitwall — the two commands of the README are `make run` and `make test`.
# Everything else here is a step they use, or a tool for developers.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
LISTEN     ?= 127.0.0.1:8080
DB         ?= sqlite:pitwall.db

.PHONY: all build run test unit integration e2e check-asan check-fresh check-format fuzz bench deps clean format \
        install

# The unit tests need cmocka, which only `scripts/deps.sh test` installs: `make run` configures
# $(BUILD) with the meson option tests=auto (on a fresh machine: no cmocka, no unit tests), the
# test targets switch the same directory to tests=enabled, so that a missing cmocka fails the
# build instead of silently skipping the unit tests. $(call tests_enabled,DIR,SETUP-OPTIONS)
tests_enabled = if [ -f $(1)/build.ninja ]; then meson configure $(1) -Dtests=enabled; \
                else meson setup $(1) $(2) -Dtests=enabled; fi

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja node_modules/.package-lock.json
	ninja -C $(BUILD)

# The web UI's chart library (served at /vendor/, see docs/decisions.md) and the browser
# tests' packages come from npm: installed when node_modules is missing or older than the lock.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Command 1: build and run pitwall on SQLite with the demo data.
run: build
	./$(BUILD)/pitwall serve --demo --db $(DB) --listen $(LISTEN)

# Command 2: build and pass every test (installs what the tests need).
test:
	@scripts/deps.sh build test
	@$(call tests_enabled,$(BUILD),--buildtype=debugoptimized)
	$(MAKE) build
	scripts/run-tests.sh $(BUILD)

# The same tests against a build with AddressSanitizer + UndefinedBehaviorSanitizer.
ASAN_SETUP = --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
check-asan:
	@scripts/deps.sh build test
	@$(call tests_enabled,$(BUILD_ASAN),$(ASAN_SETUP))
	ninja -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    scripts/run-tests.sh $(BUILD_ASAN)

# `make run` from the committed files on a Debian 12 root that has nothing installed
# (debootstrap + chroot, 2-4 min here; root, deb.debian.org and the npm registry). Run by CI.
check-fresh:
	scripts/fresh-machine.sh

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
fuzz:
	@scripts/deps.sh build test fuzz
	@[ -f $(BUILD_FUZZ)/build.ninja ] || CC=clang meson setup $(BUILD_FUZZ) --buildtype=debug \
	    -Dfuzz=true -Dtests=disabled -Db_lundef=false
	ninja -C $(BUILD_FUZZ)
	scripts/run-fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Installs the binary, pitwall(1), the web UI and the systemd unit under PREFIX
# (default /usr/local; DESTDIR for staging).
PREFIX ?= /usr/local
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX) >/dev/null
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

bench:
	@scripts/deps.sh build bench
	$(MAKE) build
	bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Every C file as clang-format (.clang-format) writes it. Run by CI.
check-format:
	@scripts/deps.sh format
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
