# Tebura's build entry points. CI (.ci/run) calls these same targets.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     ?= tebura

.DEFAULT_GOAL := help

.PHONY: help build test lint lint-extra fmt bench run

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build a static ./tebura binary (CGO_ENABLED=0, trimmed paths, version stamped).
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tebura

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
