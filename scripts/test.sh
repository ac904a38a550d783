#!/usr/bin/env bash
# README's test command (`npm test`): installs what the tests need, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --pulumi --lab "$@"
printf '\n==> typecheck, lint, format\n' >&2
npx tsc --noEmit -p tsconfig.json
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
printf '\n==> tests\n' >&2
npx jest --ci
