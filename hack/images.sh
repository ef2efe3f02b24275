#!/usr/bin/env bash
# `make images`: static (musl) kubenova-control and kubenova-proxy, each in an OCI image FROM
# scratch (the binary, nothing else; user 65532), built with buildah (no Docker daemon: vfs
# storage, chroot isolation) and, with a registry given, pushed there as
# <registry>/kubenova-control:<version> and <registry>/kubenova-proxy:<version>, the names the
# Helm chart's defaults use (image.registry, appVersion).
#
#   hack/images.sh                       build the images into local storage only
#   hack/images.sh 127.0.0.1:5000/kubenova   ... and push them (IMAGES_TLS_VERIFY=false for plain HTTP)
#
# Needs (as root, as on CI): rustup's x86_64-unknown-linux-musl target, Debian's musl-tools,
# buildah and binutils (readelf). Storage: IMAGES_STORAGE (default .kubenova/images), so
# nothing machine-wide is used.
set -euo pipefail
cd "$(dirname "$0")/.."

registry=${1:-}
target=x86_64-unknown-linux-musl
storage=${IMAGES_STORAGE:-$PWD/.kubenova/images}
tls_verify=${IMAGES_TLS_VERIFY:-true}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source_url=https://github.com/kubenova/kubenova

fail() { echo "error: $*" >&2; exit 1; }
command -v buildah >/dev/null || fail "buildah is missing (Debian: apt-get install buildah)"
command -v musl-gcc >/dev/null || fail "musl-gcc is missing (Debian: apt-get install musl-tools)"
rustup target list --installed | grep -qx "$target" ||
  fail "the Rust target $target is missing (rustup target add $target)"
[ "$(id -u)" -eq 0 ] || fail "buildah with vfs storage and chroot isolation runs as root here"
chart_version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' charts/kubenova/Chart.yaml)
[ "$chart_version" = "$version" ] ||
  fail "charts/kubenova/Chart.yaml appVersion $chart_version is not the crates' version $version"

echo "--- static binaries ($target, release)"
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target "$target" \
  -p kubenova-server --bin kubenova-control -p kubenova-proxy --bin kubenova-proxy

buildah=(buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run")
for bin in kubenova-control kubenova-proxy; do
  binary=target/$target/release/$bin
  # A static binary asks for no program interpreter and needs no shared library: the image
  # has neither.
  if readelf -lW "$binary" | grep -q 'Requesting program interpreter' ||
    readelf -dW "$binary" | grep -q '(NEEDED)'; then
    fail "$binary is dynamically linked: $(readelf -dW "$binary" | grep '(NEEDED)' | head -3)"
  fi
  name=${registry:-localhost/kubenova}/$bin:$version
  echo "--- $name"
  ctr=$("${buildah[@]}" from --isolation chroot scratch)
  "${buildah[@]}" copy --chmod 0555 "$ctr" "$binary" "/$bin" >/dev/null
  "${buildah[@]}" config --user 65532:65532 --entrypoint "[\"/$bin\"]" --cmd "" --workingdir / \
    --label "org.opencontainers.image.title=$bin" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.source=$source_url" \
    --label "org.opencontainers.image.licenses=Apache-2.0" "$ctr"
  "${buildah[@]}" commit --rm --quiet "$ctr" "$name" >/dev/null
  if [ -n "$registry" ]; then
    "${buildah[@]}" push --quiet --tls-verify="$tls_verify" "$name" "docker://$name"
    echo "pushed $name"
  fi
done
