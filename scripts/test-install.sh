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

# Both examples chat (streamed, greedy) and embed the message, chat_c over the C API and chat_cpp
# over the C++ API: their output must be the same, an answer, its length and ending, the embedding.
message="Tell me a story."
check_examples() {  # check_examples HOW DIR
  local how="$1" dir="$2" out_c out_cpp
  out_c="$(LD_LIBRARY_PATH="$prefix/lib" "$dir/chat_c" "$model" "$message")" || fail "$how: chat_c failed"
  out_cpp="$(LD_LIBRARY_PATH="$prefix/lib" "$dir/chat_cpp" "$model" "$message")" || fail "$how: chat_cpp failed"
  [[ "$out_c" == "$out_cpp" ]] || fail "$how: chat_c printed '$out_c', chat_cpp printed '$out_cpp'"
  [[ "$out_c" =~ \[[0-9]+\ tokens,\ (max_tokens|end_of_generation)\]$'\n'embedding:\ 64\ values,\ norm\ 1\.0000,\ starts(\ -?[0-9]\.[0-9]{4}){3}$ ]] ||
    fail "$how: chat_c printed '$out_c' (expected the answer, [N tokens, REASON] and the 64-value embedding)"
  [[ "$(head -c 1 <<<"$out_c")" != "[" ]] || fail "$how: chat_c streamed no text"
  echo "$how: chat_c and chat_cpp printed the same $(wc -c <<<"$out_c") bytes"
}

pc="$work/pkg-config"
mkdir -p "$pc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Werror "$root/examples/chat.c" -o "$pc/chat_c" $(pkg-config --cflags --libs bantam) -lm
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
