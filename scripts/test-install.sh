#!/usr/bin/env bash
# The installed bantam, as a user gets it: `cmake --install` into a temporary prefix, the examples
# built against it once with pkg-config and once with find_package(bantam), both run on
# stories260K; then the Debian packages (cpack), unpacked with dpkg -x into a scratch root, and
# `bantam --version` run from there.
#   scripts/test-install.sh [BUILD_DIR]   (a configured and built tree; default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
model="$root/../shared/models/weights/stories260K.gguf"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "test-install: $*" >&2; exit 1; }

prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/bantam/bantam.h include/bantam/bantam.hpp lib/libbantam_core.a lib/pkgconfig/bantam.pc \
         lib/cmake/bantam/bantamConfig.cmake lib/cmake/bantam/bantamConfigVersion.cmake bin/bantam; do
  [[ -e "$prefix/$f" ]] || fail "cmake --install wrote no $f"
done
ls "$prefix"/lib/libbantam_core.so.* >/dev/null || fail "cmake --install wrote no shared library"

# The C example's text must be what the CLI generates greedily from the same prompt.
prompt="Once upon a time"
expected="$("$prefix/bin/bantam" run -m "$model" -p "$prompt" -n 32 --temp 0 2>/dev/null)"
[[ -n "$expected" ]] || fail "bantam run generated nothing"
check_examples() {  # check_examples HOW DIR
  local how="$1" dir="$2" out
  out="$(LD_LIBRARY_PATH="$prefix/lib" "$dir/chat_c" "$model" "$prompt")"
  [[ "$out" == "$expected" ]] || fail "$how: chat_c printed '$out', bantam run printed '$expected'"
  out="$(LD_LIBRARY_PATH="$prefix/lib" "$dir/chat_cpp" "$model" "Tell me a story.")"
  [[ "$out" =~ \[[0-9]+\ tokens,\ (max_tokens|end_of_generation)\]$ ]] ||
    fail "$how: chat_cpp printed '$out' (expected the answer and [N tokens, REASON])"
  [[ "$(head -c 1 <<<"$out")" != "[" ]] || fail "$how: chat_cpp streamed no text"
  echo "$how: chat_c and chat_cpp ran ($(wc -c <<<"$out") bytes from chat_cpp)"
}

pc="$work/pkg-config"
mkdir -p "$pc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Werror "$root/examples/chat.c" -o "$pc/chat_c" $(pkg-config --cflags --libs bantam)
c++ -std=c++20 -Wall -Werror "$root/examples/chat.cpp" -o "$pc/chat_cpp" $(pkg-config --cflags --libs bantam)
check_examples pkg-config "$pc"

cmake -S "$root/examples" -B "$work/find-package" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="-Wall -Werror" -DCMAKE_CXX_FLAGS="-Wall -Werror" >/dev/null
cmake --build "$work/find-package" >/dev/null
check_examples find_package "$work/find-package"

# Debian packages: libbantam, libbantam-dev, bantam.
(cd "$build" && cpack -G DEB -B "$work/packages" >/dev/null)
scratch="$work/scratch-root"
for package in libbantam libbantam-dev bantam; do
  deb="$(ls "$work/packages"/${package}_*.deb 2>/dev/null | head -n1)"
  [[ -n "$deb" ]] || fail "cpack wrote no ${package}_*.deb"
  dpkg -x "$deb" "$scratch"
done
dpkg-deb -f "$(ls "$work/packages"/libbantam-dev_*.deb)" Depends | grep -q "libbantam (" ||
  fail "libbantam-dev does not depend on libbantam"
libdirs="$(find "$scratch" -name 'libbantam_core.so*' -printf '%h\n' | sort -u | paste -sd:)"
version="$(LD_LIBRARY_PATH="$libdirs" "$scratch/usr/bin/bantam" --version)"
[[ "$version" == "bantam "* ]] || fail "bantam --version from the .deb printed '$version'"
echo "packages: $(cd "$work/packages" && ls ./*.deb | xargs -n1 basename | paste -sd' '); $version from the scratch root"
echo "test-install: passed"
