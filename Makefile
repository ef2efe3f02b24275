# KubeNova: `make dev` runs the platform on a local cluster, `make test` runs every check.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: upstream
upstream: ## Build the pinned upstream programs (kube-apiserver, etcd, kwok, Capsule, ...) into ~/.cache/kubenova
	@hack/upstream/build.sh

.PHONY: build
build: ## Build every crate and test
	$(CARGO) build --workspace --all-targets

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: generate
generate: ## Regenerate the CRD manifests and docs/openapi/openapi.yaml from the code
	@# Without the web UI (KUBENOVA_UI_SKIP=1): the UI's client is generated from the document
	@# written here, so the UI may only build once it is written (control/build.rs).
	KUBENOVA_UI_SKIP=1 $(CARGO) run -q -p kubenova-control --bin kubenova-crdgen
	KUBENOVA_UI_SKIP=1 $(CARGO) run -q -p kubenova-control --bin kubenova-control -- openapi > docs/openapi/openapi.yaml.tmp
	mv docs/openapi/openapi.yaml.tmp docs/openapi/openapi.yaml

.PHONY: verify
verify: ## rustfmt check, clippy -D warnings, generated files up to date, the OpenAPI document valid, no committed credentials
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@hack/verify-generated.sh
	@hack/verify-openapi.sh
	@hack/verify-credentials.py --self-test
	@hack/verify-credentials.py

.PHONY: test
test: verify upstream ## verify, then every unit and integration test against real programs, then a short fuzz run
	$(CARGO) test --workspace --no-fail-fast
	$(MAKE) fuzz FUZZ_SECONDS=20

FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz: ## Fuzz the proxy's path and credential handling, FUZZ_SECONDS per target (installs nightly + cargo-fuzz)
	@hack/fuzz.sh $(FUZZ_SECONDS)

.PHONY: bench
bench: upstream ## Benchmark kubenova-proxy against apiserver direct and a no-op proxy; writes docs/performance-proxy.md (quiet machine; BENCH_ARGS=--quick to try it)
	$(CARGO) build --release -p kubenova-proxy -p kubenova-bench
	target/release/kubenova-bench proxy --proxy-binary target/release/kubenova-proxy \
		--out docs/performance-proxy.md $(BENCH_ARGS)

.PHONY: dev
dev: upstream dev-build ## Run the whole platform on a local cluster in the foreground (Ctrl-C stops it)
	target/debug/kubenova-testenv up --dir .kubenova/dev/run --env-file .kubenova/dev/env \
		--proxy-binary target/debug/kubenova-proxy --control-binary target/debug/kubenova-control

.PHONY: dev-build
dev-build:
	$(CARGO) build -p testenv --bin kubenova-testenv -p kubenova-proxy --bin kubenova-proxy \
		-p kubenova-control --bin kubenova-control

.PHONY: dev-up
dev-up: upstream dev-build ## Like `make dev`, in the background; returns once .kubenova/dev/env is written
	@hack/dev.sh up

.PHONY: dev-down
dev-down: ## Stop what `make dev-up` started
	@hack/dev.sh down

IMAGE_REGISTRY ?=
.PHONY: images
images: ## Static kubenova-control and kubenova-proxy images FROM scratch (buildah, no Docker daemon); IMAGE_REGISTRY=host:port/prefix pushes them (IMAGES_TLS_VERIFY=false for plain HTTP)
	@hack/images.sh $(IMAGE_REGISTRY)

.PHONY: clean
clean: ## Remove build output and test environments (not the upstream cache)
	$(CARGO) clean
	rm -rf .kubenova
