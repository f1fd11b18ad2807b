#!/usr/bin/env bash
# Installs bindings/python into a venv the way Debian 12 allows offline (system site packages for
# Debian's setuptools and pytest, no build isolation, no package index) and runs its pytest tests
# against the build's libbantam_core.so. Usage: scripts/test-python.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-${BUILD_DIR:-$root/build}}" && pwd)"
python="${PYTHON:-/usr/bin/python3}"
venv="$build/python-venv"
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
# Built from a copy: setuptools writes build/ and *.egg-info beside the sources it is given.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/bindings/python" "$work/src"
rm -rf "$work/src/tests"
"$venv/bin/pip" install --quiet --no-build-isolation --no-index --no-deps "$work/src"
# Run from the tests folder so that `import bantam` finds the installed package, not the sources.
cd "$root/bindings/python/tests"
PYTHONDONTWRITEBYTECODE=1 BANTAM_LIBRARY="$build/lib/libbantam_core.so" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider .
