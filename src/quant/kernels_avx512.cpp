// AVX-512 F/BW/VL kernels without VNNI (e.g. Skylake-X): see kernels_avx512_impl.hpp.
#if defined(__x86_64__) || defined(__i386__)  // x86 builds only; empty elsewhere
#include <immintrin.h>

#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

// The kernels below are compiled for the ISA they serve; dispatch only calls them where it runs.
#if defined(__clang__)
// Functions declared before this point (the registration hooks in kernels.hpp) keep no target.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wignored-attributes"
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
// GCC 12 flags the deliberately undefined pass-through operands inside its own AVX-512
// intrinsics (_mm512_cvtepi32_ps, _mm512_inserti64x4, ...) as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c,bmi2")
#endif
#define BANTAM_AVX512_VNNI false
#include "quant/kernels_avx512_impl.hpp"
#include "quant/gemm_avx512_impl.hpp"
#include "quant/gemv_avx512_impl.hpp"
#undef BANTAM_AVX512_VNNI

namespace bantam::quant::kernels {
void add_avx512(Table& table) { add_avx512_kernels(table); add_avx512_gemv_kernels(table); }
void add_avx512_gemm(Table& table) { add_avx512_gemm_kernels(table); }
}  // namespace bantam::quant::kernels

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#endif  // x86
