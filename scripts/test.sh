#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite: lint, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; python3 -m ruff check jupyter_samp tests benchmarks notebooks
echo "== mypy"; python3 -m mypy
echo "== docs"; python3 -m sphinx -W -q -b html docs "${TMPDIR:-/tmp}/jupyter_samp_docs"
echo "== pytest"; python3 -m pytest "$@"
