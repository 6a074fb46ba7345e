#!/usr/bin/env bash
# The README's first command: set up from nothing, then start Sluice with its embedded
# defaults. Arguments go to `sluice up` (e.g. --port 8888 --data-dir ./sluice-data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/sluice up "$@"
