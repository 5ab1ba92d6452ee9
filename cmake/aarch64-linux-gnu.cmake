# Cross-build for 64-bit ARM Linux with Debian's cross compiler (g++-aarch64-linux-gnu) against
# Debian's arm64 multiarch packages (dpkg --add-architecture arm64; scripts/setup.sh installs
# both). Used by the `aarch64` configure preset:
#
#   cmake --preset aarch64 && cmake --build build/aarch64 -j2
#
# Multiarch keeps the arm64 libraries in /usr/lib/aarch64-linux-gnu beside the host's, and the
# headers in /usr/include (arch-specific ones under /usr/include/aarch64-linux-gnu), so no sysroot
# is needed: CMake searches lib/aarch64-linux-gnu (CMAKE_LIBRARY_ARCHITECTURE) and never the
# host's lib/x86_64-linux-gnu. pkg-config must read only the arm64 .pc files, hence
# PKG_CONFIG_LIBDIR (not PKG_CONFIG_PATH, which adds to the host's).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Host programs (pkg-config, valgrind, python) from the host; libraries and packages only where
# the arm64 ones are.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# Test binaries run under qemu-user (apt: qemu-user), e.g. gtest's discovery and ctest in the
# aarch64 build tree. Multiarch installs the arm64 loader (/lib/ld-linux-aarch64.so.1) and
# libraries where the emulated loader looks for them, so no -L prefix is needed; -cpu max turns
# on every extension QEMU has (dotprod, i8mm, SVE2), so that every ARM path can run.
find_program(AMANUENSIS_QEMU_AARCH64 qemu-aarch64)
if(AMANUENSIS_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${AMANUENSIS_QEMU_AARCH64};-cpu;max")
endif()
