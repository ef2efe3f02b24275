#!/usr/bin/env bash
# Checks docs/openapi/openapi.yaml with tools from package registries, pinned in hack/openapi/:
#   1. openapi-spec-validator (PyPI): a valid OpenAPI 3.0 document (structure, unique
#      operationIds, path parameters, ...);
#   2. every request and response example validates against the schema beside it
#      (hack/openapi/check_examples.py, with openapi-schema-validator's OpenAPI 3.0 dialect);
#   3. openapi-typescript (npm), the generator the web UI's client comes from, turns it into
#      TypeScript that `tsc --strict` accepts, with every operationId in it.
# The tools are installed once into .kubenova/tools/openapi (again when a pin changes). Needs
# python3 with venv and node >= 18 with npm; .ci/run installs them on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

doc=${1:-docs/openapi/openapi.yaml}
pins=hack/openapi
tools=.kubenova/tools/openapi

die() {
  echo "verify-openapi: $*" >&2
  exit 1
}

command -v python3 >/dev/null || die "python3 is required (Debian: apt-get install python3 python3-venv)"
command -v npm >/dev/null || die "node and npm are required (Debian: apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || die "node >= 18 is required, found $(node --version)"

mkdir -p "$tools"
stamp() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

want=$(stamp "$pins/requirements.txt")
if [[ "$(cat "$tools/venv.stamp" 2>/dev/null)" != "$want" ]]; then
  echo "verify-openapi: installing $pins/requirements.txt into $tools/venv"
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins/requirements.txt" ||
    die "pip could not install $pins/requirements.txt"
  echo "$want" >"$tools/venv.stamp"
fi

want=$(stamp "$pins/package.json" "$pins/package-lock.json")
if [[ "$(cat "$tools/npm.stamp" 2>/dev/null)" != "$want" ]]; then
  echo "verify-openapi: installing $pins/package-lock.json into $tools/npm"
  rm -rf "$tools/npm"
  mkdir -p "$tools/npm"
  cp "$pins/package.json" "$pins/package-lock.json" "$tools/npm/"
  (cd "$tools/npm" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  echo "$want" >"$tools/npm.stamp"
fi

echo "verify-openapi: openapi-spec-validator $doc"
"$tools/venv/bin/openapi-spec-validator" "$doc"

echo "verify-openapi: examples against their schemas"
"$tools/venv/bin/python" "$pins/check_examples.py" "$doc"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "verify-openapi: openapi-typescript $doc, then tsc --strict"
"$tools/npm/node_modules/.bin/openapi-typescript" "$doc" -o "$out/kubenova-api.d.ts" --silent
"$tools/npm/node_modules/.bin/tsc" --noEmit --strict "$out/kubenova-api.d.ts"
missing=0
while read -r id; do
  if ! grep -qF "operations[\"$id\"]" "$out/kubenova-api.d.ts"; then
    echo "verify-openapi: operation $id is not in the generated client" >&2
    missing=1
  fi
done < <("$tools/venv/bin/python" -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for item in doc["paths"].values():
    for op in item.values():
        print(op["operationId"])
' "$doc")
((missing == 0)) || die "the generated client lacks operations"
echo "verify-openapi: ok"
