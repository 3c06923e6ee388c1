# autobuild — build, test, demo, benchmarks.
# The binary must be static and built without cgo: the sandbox helper applies
# Landlock to all threads, which needs the pure-Go path.
GO      ?= go
export CGO_ENABLED := 0
export PATH := /usr/local/go/bin:$(PATH)
BIN     := bin/autobuild
BINS    := $(BIN) bin/autobuild-secure bin/autobuild-helper

.PHONY: all build demo test test-go test-vm policy bench vet clean install

all: build

build: $(BINS)

bin/autobuild: FORCE
	$(GO) build -trimpath -o $@ ./cmd/autobuild

# autobuild-helper is the small sandbox helper every confined step starts
# as; autobuild finds it beside itself.
bin/autobuild-helper: FORCE
	$(GO) build -trimpath -o $@ ./cmd/autobuild-helper

# autobuild-secure is the same binary: invoked by that name, it confines
# the engine itself before the run.
bin/autobuild-secure: bin/autobuild
	ln -f $< $@

FORCE:

## demo: build and run the bundled example (three local git modules)
demo: build
	sh examples/demo.sh $(CURDIR)/$(BIN)

## test: everything CI runs: vet, unit and end-to-end tests, then the SELinux VM test
## (which compiles the policy module first)
test: vet test-go test-vm

## test-go: unit and end-to-end tests (real git, real binary, real confinement)
test-go:
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## policy: compile the SELinux policy module with Debian's selinux-policy-dev
policy:
	$(MAKE) -C policy/selinux

## test-vm: boot an SELinux-enforcing Debian guest and run the confinement checks there
test-vm:
	bash test/vm/run.sh

## bench: spawn overhead per trust level, engine overhead, no-change runs, makespan
bench: build
	$(GO) run ./cmd/autobuild-bench -bin $(CURDIR)/$(BIN)

install: build
	install -m 0755 $(BINS) /usr/local/bin/

clean:
	rm -rf bin examples/work
