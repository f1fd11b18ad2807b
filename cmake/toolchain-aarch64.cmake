# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu against the arm64
# multiarch packages (dpkg --add-architecture arm64; libpcre2-dev:arm64 ... in scripts/deps.sh):
# their libraries are in /usr/lib/aarch64-linux-gnu, their headers in /usr/include, which the
# cross compiler searches after its own. Binaries run under qemu-aarch64 (package qemu-user),
# which CMake uses as the emulator for test discovery, with the arm64 multiarch libc6 as the
# runtime (-L /): under qemu 7.2 any program that starts a thread hangs on the cross toolchain's
# own libc (libc6-arm64-cross 2.36-8cross1, -L /usr/aarch64-linux-gnu), not on libc6:arm64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config reads the arm64 packages' .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
