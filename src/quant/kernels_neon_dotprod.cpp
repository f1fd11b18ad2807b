// aarch64 Advanced SIMD kernels with the ARMv8.2 dotprod extension (sdot; Cortex-A76, Neoverse,
// Apple M): see kernels_neon_impl.hpp. Installed only when HWCAP_ASIMDDP is set (dot.cpp checks),
// so the whole file is compiled for it; every include comes before the target switch.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

#pragma GCC push_options
// arm_neon.h declares sdot for armv8.2-a+dotprod; a caller must enable at least as much to
// inline it. Every core with dotprod implements ARMv8.2.
#pragma GCC target("arch=armv8.2-a+dotprod")
#define BANTAM_NEON_DOTPROD 1
#include "quant/kernels_neon_impl.hpp"
#undef BANTAM_NEON_DOTPROD

namespace bantam::quant::kernels {
void add_neon_dotprod(Table& table) { add_neon_kernels(table); }
}  // namespace bantam::quant::kernels

#pragma GCC pop_options
#endif  // aarch64
