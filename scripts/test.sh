#!/usr/bin/env bash
# The test command: lint, type-check, then the whole pytest suite in parallel.
# Integration tests need root; they skip loudly with the reason when run without.
#   scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
$V/python -m compileall -q src >/dev/null
echo "== ruff" >&2
$V/ruff check src tests bench
$V/ruff format --check src tests bench
echo "== mypy" >&2
$V/mypy
echo "== pytest" >&2
exec $V/python -m pytest -n "${WHARFIE_TEST_JOBS:-4}" "$@"
