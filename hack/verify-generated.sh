#!/usr/bin/env bash
# Fails when a generated or pinned file is out of date with what produces it.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
# The upstream wrapper modules must be tidy: go.sum pins exactly what the builds use.
if command -v go >/dev/null 2>&1; then
  for dir in hack/upstream/*/; do
    [ -f "$dir/go.mod" ] || continue
    if [ -f "$dir/source" ]; then
      # Built from a source tree (see build.sh): tidy is checked in a copy of that tree.
      name=$(basename "$dir")
      if ! hack/upstream/build.sh --tidy-diff "$name" >/dev/null; then
        echo "error: $dir is not tidy (or its source tree is missing); run: hack/upstream/build.sh --tidy $name" >&2
        status=1
      fi
      continue
    fi
    if ! (cd "$dir" && GOFLAGS=-mod=mod GOSUMDB=off go mod tidy -diff >/dev/null 2>&1); then
      echo "error: $dir is not tidy; run: (cd $dir && GOSUMDB=off go mod tidy)" >&2
      status=1
    fi
  done
else
  echo "error: Go is needed to check hack/upstream (see README: prerequisites)" >&2
  status=1
fi
# The CRD manifests are generated from kubenova_api::crd.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo run --quiet -p kubenova-agent --bin kubenova-crdgen -- "$scratch/config" "$scratch/chart"
for pair in "config/crd:$scratch/config" "charts/kubenova/crds:$scratch/chart"; do
  committed=${pair%%:*} generated=${pair#*:}
  if ! diff -ru "$committed" "$generated" >/dev/null 2>&1; then
    echo "error: $committed is out of date; run: cargo run -p kubenova-agent --bin kubenova-crdgen" >&2
    status=1
  fi
done
# The OpenAPI document is generated from the route table and types in control/src/rest (printed
# by the kubenova-control binary, crate kubenova-server).
cargo run --quiet -p kubenova-server --bin kubenova-control -- openapi >"$scratch/openapi.yaml"
if ! diff -u docs/openapi/openapi.yaml "$scratch/openapi.yaml" >/dev/null 2>&1; then
  echo "error: docs/openapi/openapi.yaml is out of date; run: make generate" >&2
  status=1
fi
exit $status
