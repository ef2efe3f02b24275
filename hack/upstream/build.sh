#!/usr/bin/env bash
# Builds the upstream programs testenv runs from the pinned Go modules under hack/upstream/<name>/.
#
# Each module lists its programs as `tool` directives and requires the upstream module at one
# pinned version. Binaries land in ${KUBENOVA_CACHE:-~/.cache/kubenova}/bin/<name>-<version>/ together
# with a stamp (hash of go.mod, go.sum and this script); a module whose stamp matches is skipped.
#
# A module with a `source` file (capsule-proxy, dex) is built from an upstream source tree instead, because
# the Go module proxy does not serve it: the tree named there, under <repository>/../shared/upstream/
# (or $KUBENOVA_SHARED/upstream/), is copied into a build directory, the module's go.mod and go.sum
# replace the tree's own, and it is built with -mod=readonly; its stamp also covers the tree.
#
# Usage: hack/upstream/build.sh [name...]      (default: every module)
#        hack/upstream/build.sh --tidy <name>  (a source module: `go mod tidy` in a copy of its tree,
#                                              go.mod and go.sum written back here)
#        hack/upstream/build.sh --tidy-diff <name>  (fails if that would change them)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KUBENOVA_CACHE:-$HOME/.cache/kubenova}

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is not installed (or not on PATH)." >&2
  echo "KubeNova builds the Kubernetes programs its tests run (kube-apiserver, etcd, kwok, Capsule)" >&2
  echo "from pinned Go modules. Install Go >= 1.26 from https://go.dev/dl/ and run 'make upstream' again." >&2
  exit 1
fi

# The build uses only what go.sum already pins; the checksum database is not consulted for it.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

# Prints "<module path> <version>" of the upstream module that provides the module's tools.
pinned() {
  (cd "$1" && go list -f '{{.Module.Path}} {{.Module.Version}}' tool | sort -u | head -n1)
}

stamp_of() {
  cat "$1/go.mod" "$1/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1
}

# Runs `go build -v -trimpath <args>` in <dir> with its output in <log>, printing progress every
# 15 s; on failure prints the log's last lines and exits.
# Usage: go_build <dir> <log> <what> <go build args...>
go_build() {
  local dir=$1 log=$2 what=$3
  shift 3
  local start=$SECONDS last=$SECONDS
  echo "    compiling (go build -v; full output in $log)"
  (cd "$dir" && go build -v -trimpath "$@") >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - last)) -ge 15 ]; then
      last=$SECONDS
      echo "    ... $(wc -l <"$log") packages compiled, $((SECONDS - start))s"
    fi
  done
  if ! wait "$pid"; then
    echo "error: building $what failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

# Extra linker flags per module, so the programs report their real version.
ldflags_for() {
  local name=$1 version=$2 flags="-s -w"
  if [ "$name" = kubernetes ]; then
    local minor
    minor=$(echo "$version" | cut -d. -f2)
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      flags="$flags -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      flags="$flags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
  fi
  echo "$flags"
}

# Files that come from the module source rather than from a build (CRDs and the like), and names.
copy_assets() {
  local name=$1 src=$2 out=$3
  case "$name" in
    etcd)
      # go names the binary after its package, go.etcd.io/etcd/server/v3.
      mv "$out/server" "$out/etcd"
      ;;
    kwok)
      # kwok has no built-in stages: testenv feeds it upstream's "fast" node and pod lifecycles.
      mkdir -p "$out/stages"
      cp "$src"/kustomize/stage/node/fast/node-initialize.yaml \
        "$src"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
        "$src"/kustomize/stage/pod/fast/pod-ready.yaml \
        "$src"/kustomize/stage/pod/fast/pod-complete.yaml \
        "$src"/kustomize/stage/pod/fast/pod-delete.yaml "$out/stages/"
      ;;
    capsule)
      # CRDs (v1beta2 only; the .patch files add the chart's conversion webhook) and the chart,
      # which testenv renders with helm for the CapsuleConfiguration.
      mkdir -p "$out/crds"
      cp "$src"/charts/capsule/crds/*.yaml "$out/crds/"
      cp -r "$src"/charts/capsule "$out/chart"
      chmod -R u+w "$out/chart"
      # The optional capsule-proxy subchart (off by default) lives in an OCI registry this
      # machine cannot reach; without the dependency list helm renders the chart offline.
      awk '/^dependencies:/ { skip = 1; next } skip && /^[^ -]/ { skip = 0 } !skip' \
        "$src/charts/capsule/Chart.yaml" >"$out/chart/Chart.yaml"
      ;;
    kubevela)
      # go names the binary after its package, github.com/oam-dev/kubevela/cmd/core.
      mv "$out/core" "$out/vela-core"
      # CRDs and the built-in definitions (Helm templates whose only template construct is the
      # namespace; testenv fills it in).
      mkdir -p "$out/crds" "$out/definitions"
      cp "$src"/charts/vela-core/crds/*.yaml "$out/crds/"
      cp "$src"/charts/vela-core/templates/defwithtemplate/*.yaml "$out/definitions/"
      ;;
    dex)
      # Its login and approval pages (templates, static files, themes), which `frontend.dir` names.
      cp -r "$src/web" "$out/web"
      chmod -R u+w "$out/web"
      ;;
    capsule-proxy)
      # Its two CRDs (ProxySetting, GlobalProxySettings) and its chart, from which testenv renders
      # the RBAC the chart grants it.
      mkdir -p "$out/crds"
      cp "$src"/charts/capsule-proxy/crds/*.yaml "$out/crds/"
      cp -r "$src"/charts/capsule-proxy "$out/chart"
      ;;
    fluxcd)
      # Both controllers' CRDs; the first tool's module is $src, the other is looked up.
      mkdir -p "$out/crds"
      local dir
      for mod in github.com/fluxcd/helm-controller github.com/fluxcd/source-controller; do
        dir=$(cd "$here/fluxcd" && go list -m -f '{{.Dir}}' "$mod")
        cp "$dir"/config/crd/bases/*.yaml "$out/crds/"
      done
      ;;
  esac
  chmod -R u+w "$out"
}

build_one() {
  local name=$1 dir=$here/$1
  local module version
  read -r module version < <(pinned "$dir")
  local out=$cache/bin/$name-$version
  local stamp
  stamp=$(stamp_of "$dir")
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "==> $name $version: up to date in $out"
    return
  fi
  local tools
  tools=$(cd "$dir" && go list tool | sort | tr '\n' ' ')
  echo "==> $name $version: building $(echo "$tools" | wc -w) program(s) into $out"
  local start=$SECONDS
  echo "    downloading modules (go mod download)"
  (cd "$dir" && go mod download)
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  local log=$cache/logs/$name-$version.log
  mkdir -p "$(dirname "$log")"
  # shellcheck disable=SC2086 # $tools is a list of package paths
  go_build "$dir" "$log" "$name $version" -ldflags "$(ldflags_for "$name" "$version")" -o "$out.tmp/" $tools
  copy_assets "$name" "$(cd "$dir" && go list -m -f '{{.Dir}}' "$module")" "$out.tmp"
  echo "$stamp" >"$out.tmp/.stamp"
  rm -rf "$out" && mv "$out.tmp" "$out"
  echo "    done in $((SECONDS - start))s"
}

# Field <key> of a source module's `source` file.
source_field() {
  awk -v key="$2" '$1 == key { print $2 }' "$here/$1/source"
}

# The folder holding the upstream source trees: $KUBENOVA_SHARED/upstream, else
# <repository>/../shared/upstream (for a git worktree, also beside its main checkout).
shared_upstream() {
  local name=$1 dir
  dir=$(source_field "$name" dir)
  local candidates=()
  if [ -n "${KUBENOVA_SHARED:-}" ]; then
    candidates=("$KUBENOVA_SHARED")
  else
    candidates=("$root/../shared")
    local common
    if common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
      [ "$(realpath -m "$(dirname "$common")")" != "$(realpath -m "$root")" ]; then
      candidates+=("$(dirname "$common")/../shared")
    fi
  fi
  local c
  for c in "${candidates[@]}"; do
    if [ -d "$c/upstream/$dir" ]; then
      (cd "$c/upstream" && pwd)
      return
    fi
  done
  echo "error: $name is built from its source tree, which is missing: no folder" >&2
  for c in "${candidates[@]}"; do
    echo "  $(realpath -m "$c/upstream/$dir")" >&2
  done
  echo "The Go module proxy does not serve $name, so its source (tag $(source_field "$name" version)," >&2
  echo "unmodified) is kept in 'shared/upstream/' beside the repository (<repository>/../shared)." >&2
  echo "Put it there, or set KUBENOVA_SHARED to the folder that holds upstream/$dir." >&2
  exit 1
}

tree_hash() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# Copies the source tree of module $1 into the build directory $2 with the module's go.mod/go.sum.
prepare_source() {
  local name=$1 work=$2 upstream
  upstream=$(shared_upstream "$name")
  rm -rf "$work" && mkdir -p "$(dirname "$work")"
  cp -r "$upstream/$(source_field "$name" dir)" "$work"
  chmod -R u+w "$work"
  cp "$here/$name/go.mod" "$here/$name/go.sum" "$work/"
}

build_from_source() {
  local name=$1 dir=$here/$1
  local version upstream program
  version=$(source_field "$name" version)
  program=$(source_field "$name" program)
  upstream=$(shared_upstream "$name")
  local src=$upstream/$(source_field "$name" dir)
  local out=$cache/bin/$name-$version
  local stamp
  stamp=$( (stamp_of "$dir"; cat "$dir/source"; tree_hash "$src") | sha256sum | cut -d' ' -f1)
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "==> $name $version: up to date in $out"
    return
  fi
  echo "==> $name $version: building $program from $src into $out"
  local start=$SECONDS
  local work=$cache/build/$name-$version
  prepare_source "$name" "$work"
  echo "    downloading modules (go mod download)"
  (cd "$work" && go mod download)
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  local log=$cache/logs/$name-$version.log
  mkdir -p "$(dirname "$log")"
  local package
  package=$(source_field "$name" package)
  go_build "$work" "$log" "$name $version" -ldflags "-s -w" -o "$out.tmp/$program" "${package:-.}"
  copy_assets "$name" "$work" "$out.tmp"
  rm -rf "$work"
  echo "$stamp" >"$out.tmp/.stamp"
  rm -rf "$out" && mv "$out.tmp" "$out"
  echo "    done in $((SECONDS - start))s"
}

# `go mod tidy` for a source module, in a copy of its tree; `--tidy` writes go.mod/go.sum back.
tidy_source() {
  local mode=$1 name=$2
  [ -f "$here/$name/source" ] || { echo "error: hack/upstream/$name has no source file" >&2; exit 1; }
  local work
  work=$(mktemp -d)/$name
  prepare_source "$name" "$work"
  if [ "$mode" = --tidy-diff ]; then
    (cd "$work" && GOFLAGS=-mod=mod GOSUMDB=off go mod tidy -diff) && status=0 || status=$?
  else
    (cd "$work" && GOFLAGS=-mod=mod GOSUMDB=off go mod tidy) && status=0 || status=$?
    [ "$status" = 0 ] && cp "$work/go.mod" "$work/go.sum" "$here/$name/"
  fi
  rm -rf "$(dirname "$work")"
  return "$status"
}

case "${1:-}" in
  --tidy | --tidy-diff)
    [ $# -eq 2 ] || { echo "usage: $0 $1 <name>" >&2; exit 2; }
    tidy_source "$1" "$2"
    exit
    ;;
esac

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in "$here"/*/; do
    [ -f "$d/go.mod" ] && names+=("$(basename "$d")")
  done
fi
for n in "${names[@]}"; do
  [ -f "$here/$n/go.mod" ] || { echo "error: no module hack/upstream/$n" >&2; exit 1; }
  if [ -f "$here/$n/source" ]; then
    build_from_source "$n"
  else
    build_one "$n"
  fi
done
