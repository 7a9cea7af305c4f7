#!/usr/bin/env bash
# Install fbh with its test extras into .venv, then run the checks and the whole test suite.
# FBH_TEST_INSTALL=0 skips the install (bench/test_time.py times it on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FBH_TEST_INSTALL:-1}" != 0 ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  if command -v npm >/dev/null 2>&1 && [ ! -d tests/js/node_modules/axe-core ]; then
    npm ci --prefix tests/js --no-audit --no-fund --silent
  fi
fi

# The checks (one process each, mypy the longest) run beside pytest, one after the other, each
# into its own log: they use the core the suite's last files leave idle. A failed check is
# reported by name with its output after pytest, and fails the script.
checks=$(mktemp -d)
trap 'rm -rf "$checks"' EXIT
check() {
  local name=$1
  shift
  if ! "$@" >"$checks/$name.log" 2>&1; then
    echo "$name" >>"$checks/failed"
  fi
}
(
  check "ruff check" .venv/bin/ruff check .
  check "ruff format --check" .venv/bin/ruff format --check .
  check "mypy" .venv/bin/mypy
  check "lint-imports" .venv/bin/lint-imports # the layers of docs/architecture.md
) &
checks_pid=$!

# In parallel (pytest-xdist), a file's tests on one worker (module fixtures, shared servers).
# The suite is bound by CPU (docs/benchmarks.md, "The test command"); 4 workers on 2 cores
# cover the waits on SMTP, the databases and the `fbh` processes. FBH_TEST_WORKERS=0 runs
# everything in this process.
status=0
.venv/bin/pytest -q -n "${FBH_TEST_WORKERS:-4}" --dist loadfile "$@" || status=$?
wait "$checks_pid"

if [ -s "$checks/failed" ]; then
  while IFS= read -r name; do
    echo "=== FAILED check: $name ===" >&2
    cat "$checks/$name.log" >&2
  done <"$checks/failed"
  echo "scripts/test.sh: failed checks: $(paste -sd, "$checks/failed")" >&2
  [ "$status" -ne 0 ] || status=1
else
  echo "checks passed: ruff check, ruff format --check, mypy, lint-imports"
fi
if [ "$status" -ne 0 ]; then
  echo "scripts/test.sh: exit $status" >&2
fi
exit "$status"
