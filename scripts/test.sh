#!/usr/bin/env bash
# Install fbh with its test extras into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
if command -v npm >/dev/null 2>&1 && [ ! -d tests/js/node_modules/axe-core ]; then
  npm ci --prefix tests/js --no-audit --no-fund --silent
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports  # the layers of docs/architecture.md (contracts in pyproject.toml)
# In parallel (pytest-xdist): the suite mostly waits on subprocesses, SMTP and databases, so
# more workers than cores pays; a file's tests stay on one worker (module fixtures, shared
# servers). FBH_TEST_WORKERS=0 runs everything in this process.
.venv/bin/pytest -q -n "${FBH_TEST_WORKERS:-4}" --dist loadfile "$@"
