// aarch64 Advanced SIMD kernels without dotprod (Cortex-A53/A57/A72...): see kernels_neon_impl.hpp,
// and the float rows (kernels_neon_float_impl.hpp), which need nothing above ARMv8.0.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#define BANTAM_NEON_DOTPROD 0
#define BANTAM_NEON_FHM 0
#include "quant/kernels_neon_impl.hpp"
#include "quant/kernels_neon_float_impl.hpp"
#undef BANTAM_NEON_FHM
#undef BANTAM_NEON_DOTPROD

namespace bantam::quant::kernels {
void add_neon(Table& table) {
  add_neon_kernels(table);
  add_tile_kernels<Floats<F32Math>>(table, GgmlType::F32);
  add_tile_kernels<Floats<F16Math>>(table, GgmlType::F16);
  add_tile_kernels<Floats<BF16Math>>(table, GgmlType::BF16);
}
}  // namespace bantam::quant::kernels

#endif  // aarch64
