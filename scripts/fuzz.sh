#!/usr/bin/env bash
# Runs every fuzzer for a bounded time each: `make test` uses a short run,
# `make soak` a long one. Seeds are in the repository: hbd/wire/testdata/vectors
# (the captured packets) and copies of the sample configs under each package's testdata.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
targets=(
  "./hbd/wire FuzzDecode"
  "./hbd/config FuzzParseHACF"
  "./hbd/config FuzzParseAuthkeys"
  "./hbd/config FuzzParseHaresources"
  "./ldird/config FuzzParse"
)
for tg in "${targets[@]}"; do
  set -- $tg
  echo "fuzz: $2 ($1) for $t"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1"
done
