#!/usr/bin/env bash
# `make verify`: the two roles build apart (ADR 0020). The agent crate depends on neither axum
# nor tower-http's server side through our code, nor on the REST crate; the REST crate does not
# depend on the agent; the shared crates (api, revocation, tls) depend on neither role. Dev- and
# build-dependencies count: `cargo test -p kubenova-agent` must not compile the REST code.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
deps() { cargo tree --quiet --offline -p "$1" -e normal,build,dev --prefix none --format '{p}' | awk '{print $1}' | sort -u; }
refuse() { # package, then the packages it must not depend on
  local package=$1; shift
  local found
  found=$(deps "$package" | awk -v refused="$*" '
    BEGIN { n = split(refused, r, " "); for (i = 1; i <= n; i++) bad[r[i]] = 1 }
    $1 in bad { print $1 }')
  if [ -n "$found" ]; then
    echo "error: $package depends on $(echo $found | tr ' ' ','); see docs/adr/0020-agent-crate-one-binary.md" >&2
    status=1
  fi
}
refuse kubenova-agent axum kubenova-control kubenova-server
refuse kubenova-control kubenova-agent kubenova-server
for shared in kubenova-api kubenova-revocation kubenova-tls; do
  refuse "$shared" axum kubenova-agent kubenova-control kubenova-server
done
exit $status
