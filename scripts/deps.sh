#!/usr/bin/env bash
# Installs every Debian package bantam needs that is missing (idempotent, quiet).
#   scripts/deps.sh [--mca]   --mca also installs what scripts/arm-mca.sh needs (not CI's build)
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libpcre2-dev libutf8proc-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsodium-dev libcurl4-openssl-dev libsqlite3-dev libcpp-httplib-dev libboost-dev libssl-dev openssl
  g++-aarch64-linux-gnu qemu-user googletest dpkg-dev fakeroot
  libedit-dev
  libpcre2-dev:arm64 libutf8proc-dev:arm64 libfmt-dev:arm64 libedit-dev:arm64 libc6:arm64 libstdc++6:arm64
  python3-venv python3-setuptools python3-wheel python3-pytest
  llvm-19 nodejs chromium chromium-driver
)
# The client-compatibility tests run the official OpenAI and ollama npm clients under node
# (tests/serve/sdk, tests/serve/ollama-client); npm comes with NodeSource's nodejs, else Debian's npm.
command -v npm >/dev/null || packages+=(npm)
# scripts/arm-mca.sh (static ARM speed estimates) also compiles with clang-19; CI needs only
# llvm-19's llvm-mca for the script's self-check.
mca_packages=(clang-19)
[ "${1:-}" = "--mca" ] && packages+=("${mca_packages[@]}")
# The aarch64 cross build of the engine (scripts/test-aarch64.sh) links Debian's arm64 packages
# and runs on their libc6 and libstdc++6 under qemu (cmake/toolchain-aarch64.cmake says why).
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The chat page of `bantam serve` is bundled at build time from the npm packages web/package-lock.json
# pins (marked, DOMPurify, esbuild; playwright-core drives chromium in its browser test).
web_dir="$(cd "$(dirname "$0")/../web" && pwd)"
if ! (cd "$web_dir" && npm ls --depth=0 >/dev/null 2>&1); then
  (cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
