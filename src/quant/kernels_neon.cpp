// aarch64 Advanced SIMD kernels without dotprod (Cortex-A53/A57/A72...): see kernels_neon_impl.hpp.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#define BANTAM_NEON_DOTPROD 0
#include "quant/kernels_neon_impl.hpp"
#undef BANTAM_NEON_DOTPROD

namespace bantam::quant::kernels {
void add_neon(Table& table) { add_neon_kernels(table); }
}  // namespace bantam::quant::kernels

#endif  // aarch64
