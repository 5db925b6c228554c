#!/usr/bin/env bash
# Runs every fuzzer for a bounded number of executions each: `make test` uses a
# short run, `make soak` a long one. Seeds are in the repository:
# hbd/wire/testdata/vectors (the captured packets) and copies of the sample
# configs under each package's testdata.
#
# The budget is a count (-fuzztime 300000x), not a duration: with a duration,
# Go before 1.27 can end a clean run with "context deadline exceeded" and no
# crasher (a race in its fuzz coordinator, golang/go#75804), which failed CI
# once. A count has no deadline to race; a real failure still writes its input
# under testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300000x}
case $n in
  *[0-9]x) ;;
  *) echo "fuzz.sh: budget must be an execution count such as 300000x, not $n (golang/go#75804)" >&2; exit 2 ;;
esac
targets=(
  "./hbd/wire FuzzDecode"
  "./hbd/config FuzzParseHACF"
  "./hbd/config FuzzParseAuthkeys"
  "./hbd/config FuzzParseHaresources"
  "./ldird/config FuzzParse"
)
for tg in "${targets[@]}"; do
  set -- $tg
  echo "fuzz: $2 ($1) for $n executions"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$n" -timeout 2h "$1"
done
