// F16 rows by fmlal/fmlal2 (FEAT_FHM, ARMv8.2 optional, ARMv8.4 mandatory): installed over the
// Neon level's F16 kernels when HWCAP_ASIMDFHM is set (dot.cpp checks), with the same bits (see
// kernels_neon_float_impl.hpp), so the whole file is compiled for it; every include comes before
// the target switch.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+fp16fml")
#define BANTAM_NEON_DOTPROD 0
#define BANTAM_NEON_FHM 1
#include "quant/kernels_neon_float_impl.hpp"
#undef BANTAM_NEON_FHM
#undef BANTAM_NEON_DOTPROD

namespace bantam::quant::kernels {
void add_neon_fhm(Table& table) { add_tile_kernels<Floats<F16Math>>(table, GgmlType::F16); }
}  // namespace bantam::quant::kernels

#pragma GCC pop_options
#endif  // aarch64
