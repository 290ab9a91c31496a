# gridhub: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/gridhub
# Generated files whose freshness `make test` checks: gqlgen's, and the typed
# department sections tools/gengraph makes from the built-in mapping files.
GENERATED := graph/generated graph/model/models_gen.go schema/departments_gen.graphqls $(wildcard graph/*.resolvers.go)

.PHONY: demo test build deps deps-test generate generate-check tidy-check lint bench bench-peers bench-crash clean

## demo: install Postgres and Redis when missing, build, run the hub with the demo city.
demo: deps build
	./$(BIN) dev $(ARGS)

## test: install what the tests need, check generated code and go.mod, run every test.
test: deps-test generate-check tidy-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

build:
	$(GO) build -o $(BIN) ./cmd/gridhub

deps:
	bash scripts/install-deps.sh

# The tests also drive the pages in headless Chromium.
deps-test:
	bash scripts/install-deps.sh --browser

generate:
	$(GO) generate ./...

# generate-check fails when `go generate ./...` would change what is checked in.
generate-check:
	@before=$$(cat $$(find $(GENERATED) -type f | sort) | sha256sum); \
	$(GO) generate ./... ; \
	after=$$(cat $$(find $(GENERATED) -type f | sort) | sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "go generate ./... changed generated code: run 'make generate' and commit"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

## lint: vet, staticcheck, govulncheck.
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./...

## bench: the benchmarks whose medians BENCHMARKS.md reports (long; not part of test).
bench: deps
	bash scripts/bench.sh

## bench-peers: gridhub side by side with PostGraphile (master-index queries) and Hive
## Gateway (the REST departments) under wrk, answers checked equal first, servers
## alternating (about 12 minutes; not part of test). ARGS=--quick: one 3 s round.
## Needs Node.js and npm.
bench-peers: deps
	bash scripts/bench-peers.sh $(ARGS)

## bench-crash: the crash test at full size (1,000 submissions, a 2-minute outage,
## a hub killed with SIGKILL); `make test` runs it small.
bench-crash: deps
	bash scripts/crash.sh

## conformance: the GraphQL over HTTP audit (npm graphql-http auditServer) against
## `gridhub dev`; fails on any warning or error. Needs Node.js and npm.
.PHONY: conformance
conformance:
	bash scripts/conformance.sh

clean:
	rm -rf bin

## image: the container image (deploy/Dockerfile), where a Docker daemon answers.
## IMAGE=name:tag names it (default gridhub:latest, what deploy/compose runs).
IMAGE ?= gridhub:latest
.PHONY: image deploy-config
image:
	@if ! command -v docker >/dev/null 2>&1; then \
		echo "make image: no docker command here: install Docker (or build deploy/Dockerfile with another OCI builder)"; exit 1; \
	elif ! docker info >/dev/null 2>&1; then \
		echo "make image: no Docker daemon answers here (docker info failed): start one, or build deploy/Dockerfile where one runs"; exit 1; \
	fi
	docker build -f deploy/Dockerfile --build-arg VERSION=$$(git describe --always --dirty 2>/dev/null || echo dev) -t $(IMAGE) .

## deploy-config: write the built-in configuration directory to
## deploy/kubernetes/base/config (the ConfigMap's files; a test checks they agree).
deploy-config: build
	rm -rf deploy/kubernetes/base/config
	./$(BIN) config dump deploy/kubernetes/base/config
