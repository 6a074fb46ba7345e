#!/usr/bin/env bash
# The README's second command: set up from nothing and run every check —
# ruff, mypy --strict and the whole pytest suite (with the real servers it starts).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

scripts/setup.sh --test
if [ ! -x /usr/bin/chromium ]; then
    # The UI tests drive Debian's Chromium (Playwright cannot download browsers here).
    apt_install chromium
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
