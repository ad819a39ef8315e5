# Tebura's build entry points. CI (.ci/run) calls these same targets.

# What `tebura version` prints (docs/release.md): the v* tag at HEAD, else
# v0.0.0-dev, "+dirty" when the tree has changes; the short commit; and the
# commit's date, not the build's, so one commit always builds one binary.
VERSION ?= $(shell git describe --tags --match 'v*' --exact-match 2>/dev/null || echo v0.0.0-dev)$(if $(shell git status --porcelain 2>/dev/null),+dirty)
COMMIT  ?= $(shell git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BIN     ?= tebura

# The release targets, GOOS/GOARCH: the one list release and release-check use.
PLATFORMS := linux/amd64 linux/arm64 darwin/arm64
DIST      ?= dist

.DEFAULT_GOAL := help

.PHONY: help build release release-check test lint lint-extra fmt bench run

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build a static ./tebura binary (CGO_ENABLED=0, trimmed paths, version stamped).
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tebura

release: ## Build static binaries for every release target into $(DIST)/, with SHA256SUMS.
	@mkdir -p '$(DIST)'
	@rm -f '$(DIST)'/tebura_* '$(DIST)'/SHA256SUMS
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out='$(DIST)'/tebura_$(VERSION)_$${os}_$${arch}; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS)' -o "$$out" ./cmd/tebura; \
	done
	cd '$(DIST)' && sha256sum tebura_* > SHA256SUMS

release-check: ## Build every release target into a temp dir and check them (CI); publishes nothing.
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory release DIST="$$tmp" VERSION='$(VERSION)' COMMIT='$(COMMIT)' DATE='$(DATE)' && \
	.ci/release-check "$$tmp" '$(VERSION)' $(PLATFORMS)

test: ## Run every test with the race detector.
	go test -race ./...

lint: ## go vet, and fail if any file is not gofmt-formatted.
	go vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint-extra: ## Also run golangci-lint when installed (not part of CI; see docs/development.md).
	@command -v golangci-lint >/dev/null 2>&1 || { echo "golangci-lint not installed: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"; exit 1; }
	golangci-lint run ./...

fmt: ## Format every Go file in place.
	gofmt -w .

bench: ## Print the performance figures beside their goals.
	go run ./bench

run: ## Start the bot with the example config.
	go run ./cmd/tebura serve --config config.example.yaml
