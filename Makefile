# sluice: see README.md. Every target that touches the kernel runs as root.
SHELL := /bin/bash
GO ?= go
# Debian keeps <asm/types.h> in the multiarch include directory; bpf2go's clang needs it.
BPF_ASM_INCLUDE ?= /usr/include/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sluicehq/sluice/internal/version.Version=$(VERSION)
# Per-package test timeout; the whole suite is meant to stay well under 30 minutes.
TEST_TIMEOUT ?= 15m

.PHONY: all generate check-generate build test bench demo vet clean vm-test

all: build

## generate: rebuild the eBPF objects and Go bindings from bpf/*.c (needs clang, llvm, libbpf-dev)
generate:
	BPF_ASM_INCLUDE=$(BPF_ASM_INCLUDE) $(GO) generate ./internal/redirect/

## check-generate: fail if the committed eBPF objects differ from a fresh `make generate`
check-generate: generate
	@git diff --exit-code --stat -- internal/redirect/ || { echo "committed eBPF objects are stale: run 'make generate' and commit" >&2; exit 1; }

## build: the one binary, ./bin/sluice
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sluice ./cmd/sluice

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...

# Bounded fuzzing of the proxy's client-message path, part of every test run.
FUZZ_TIME ?= 20s

## test: the whole suite, as root, on the real kernel with a real PostgreSQL, then a bounded fuzz run
test: vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -run '^$$' -fuzz FuzzClientMessages -fuzztime $(FUZZ_TIME) ./internal/proxy/

## bench: benchmarks that print ratios measured side by side in one run
bench:
	$(GO) test -run '^$$' -bench . -benchtime 20000x -count 1 ./internal/redirect/
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./internal/proxy/
	$(GO) test -run '^$$' -bench . -benchtime 2000x -count 1 ./internal/policy/ ./internal/policy/sqlparse/
	$(GO) test -run '^$$' -bench 'Append|Encode' -benchtime 4000x -count 1 ./internal/audit/
	$(GO) test -run '^$$' -bench 'AuditOverhead|Layers' -benchtime 1x -count 1 ./internal/guard/
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./test/e2e/

VM_KERNELS ?= 5.10,6.1,6.12
VM_PACKAGES := qemu-system-x86 busybox-static iproute2
## vm-test: the kernel-facing suites on Debian's stock kernels under qemu (root; test/vm/README.md)
vm-test:
	@dpkg -s $(VM_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(VM_PACKAGES) >/dev/null; }
	$(GO) run ./test/vm -kernels $(VM_KERNELS)

## demo: a self-contained demonstration on this machine (root); leaves nothing behind
demo: build
	./bin/sluice demo

clean:
	rm -rf bin
