#!/usr/bin/env bash
# The tensor packages each install alone, so they carry copies of two small shared files instead of a
# common dependency. packages/losses holds the canonical copy; this copies it to every other package
# that has the file (tools/pack-check/test/shared-copies.test.ts fails while the copies differ).
set -euo pipefail
cd "$(dirname "$0")/../.."
for file in src/SimclrError.ts src/internal/validate.ts; do
  for target in packages/*/"$file"; do
    [ "$target" = "packages/losses/$file" ] || cp "packages/losses/$file" "$target"
  done
done
# The seeded generator: canonical in packages/augment, copied into packages that need the same draws.
for target in packages/*/src/internal/Random.ts; do
  [ "$target" = "packages/augment/src/internal/Random.ts" ] || cp packages/augment/src/internal/Random.ts "$target"
done
