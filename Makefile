# Set-up, build and test in one command each; every target installs what it needs first.
SWIFT ?= swift
SYSTEM_PACKAGES := liblz4-dev libsqlite3-dev
FUZZ_SECONDS ?= 60

.PHONY: all setup system-packages python-interop build release demo test format clean fuzz fuzz-smoke docs

all: build

setup: system-packages python-interop

# Debian packages the C targets link against; installed only when missing.
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The Python py-event-sourcing package, for the interchange test (skipped when this cannot be set up).
python-interop:
	@bash scripts/setup-python-interop.sh

build: system-packages
	$(SWIFT) build

release: system-packages
	$(SWIFT) build -c release --product eventlog

demo: release
	.build/release/eventlog demo

# The DocC documentation of EventSourcing and EventSourcingPostgres, one archive:
# .build/docs/swift-event-sourcing.doccarchive. Fails on any DocC warning and on any public
# declaration without a doc comment (scripts/build-docs.sh, through swift-docc-plugin; under a
# minute after a build).
docs: build
	SWIFT=$(SWIFT) bash scripts/build-docs.sh

test: setup
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) bash scripts/build-docs.sh
	@# The PostgreSQL store's tests run against a private, throwaway server (set EVENTSOURCING_POSTGRES_URL
	@# to use an existing one instead); scripts/postgres-test-server.sh installs PostgreSQL when missing.
	bash scripts/postgres-test-server.sh run -- $(SWIFT) test --skip-build
	$(MAKE) fuzz-smoke

format:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Package.swift Sources Tests

clean:
	rm -rf .build .venv-interop

# Benchmarks (Benchmarks/, a package of its own so the main build stays light): every workload of
# the benchmark spec on both stores, in release; writes docs/BENCHMARKS.md and docs/benchmarks.svg
# (and every figure as JSON in Benchmarks/.build/bench-results.json). QUICK=1: scaled-down sizes.
.PHONY: bench
bench: system-packages
	@# SwiftPM keeps the build plan of a path dependency (the main package) after files are added
	@# to or removed from it, and then fails on missing or unknown sources; dropping the plan makes
	@# it plan again (the compiled objects stay, so the build is still incremental).
	rm -f Benchmarks/.build/release.yaml
	$(SWIFT) build -c release --package-path Benchmarks
	@# Against a private, throwaway PostgreSQL server, as in `make test` (or EVENTSOURCING_POSTGRES_URL).
	bash scripts/postgres-test-server.sh run -- Benchmarks/.build/release/event-bench $(if $(filter 1 yes true,$(QUICK)),--quick) \
		--json Benchmarks/.build/bench-results.json --markdown docs/BENCHMARKS.md --svg docs/benchmarks.svg

# Micro-benchmarks of the engine's hot paths (Benchmarks/Micro/, its own package with ordo-one/benchmark,
# so the main build never fetches it): framing, CRC-32C, key hashing and the key table, in release;
# wall clock, mallocs and per-item rates as percentiles (Benchmarks/Micro/README.md).
.PHONY: bench-micro
bench-micro: system-packages
	$(SWIFT) package --package-path Benchmarks/Micro benchmark

# Crash-recovery fuzzing (Fuzz/, its own package; docs/RELIABILITY.md): the kill, fault, damage and
# enumeration harnesses and every libFuzzer target, FUZZ_SECONDS each, in release; FUZZ_SEED to
# replay. fuzz-smoke: a short fixed budget of each in debug, part of `make test`.
fuzz: system-packages
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh full

fuzz-smoke: system-packages
	bash Fuzz/run.sh smoke
