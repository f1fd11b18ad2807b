#!/usr/bin/env bash
# Builds bantam and its tests and runs them all; prints ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --parallel "$(nproc)" --timeout 300
