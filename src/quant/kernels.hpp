// Kernel tables per instruction-set level, filled by dot_scalar.cpp and the per-ISA files.
// Internal to src/quant.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "format/ggml_type.hpp"
#include "quant/dot.hpp"

namespace bantam::quant::kernels {

// Dot of one weight row (n elements) with activations in the type's vec_dot_type.
using VecDot = float (*)(int64_t n, const void* weights, const void* activations);
// out[r] for rows [0, rows) starting at `weights`, `stride` bytes apart.
using Gemv = void (*)(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                      float* out);

// out[t * out_stride + r] for rows [0, rows) and tokens [0, n_tokens); token t's activations
// start at activations + t * act_stride bytes.
using Gemm = void (*)(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                      size_t act_stride, int64_t n_tokens, float* out, size_t out_stride);

inline constexpr size_t kTypeSlots = 40;  // ggml type ids are below this
inline constexpr size_t kOrders = 2;      // DotOrder values

struct Kernels {
  VecDot dot = nullptr;
  Gemv gemv = nullptr;
  Gemm gemm = nullptr;  // null: gemm runs gemv once per token
};

// Kernels per type and summation order. A type without kernels of its own for an order other
// than VecDot uses its VecDot kernels there (llama.cpp sums it the same way either way).
struct Table {
  Kernels slots[kOrders][kTypeSlots] = {};

  Kernels& at(GgmlType type, DotOrder order) {
    return slots[static_cast<size_t>(order)][static_cast<size_t>(type)];
  }
  const Kernels& find(GgmlType type, DotOrder order) const {
    const Kernels& own = slots[static_cast<size_t>(order)][static_cast<size_t>(type)];
    return own.dot ? own : slots[static_cast<size_t>(DotOrder::VecDot)][static_cast<size_t>(type)];
  }
  void set_dot(GgmlType type, VecDot fn, DotOrder order = DotOrder::VecDot) { at(type, order).dot = fn; }
  // A new gemv drops the gemm of a lower level, so a gemm always matches its level's gemv bit for bit.
  void set_gemv(GgmlType type, Gemv fn, DotOrder order = DotOrder::VecDot) {
    at(type, order).gemv = fn;
    at(type, order).gemm = nullptr;
  }
  void set_gemm(GgmlType type, Gemm fn, DotOrder order = DotOrder::VecDot) { at(type, order).gemm = fn; }
};

// Each fills the entries it accelerates and leaves the others as they are, so tables are built
// by layering: scalar, then AVX2, then AVX-512 (or scalar, then NEON, then NEON dotprod).
// The x86 ones exist in x86 builds only, the NEON ones in aarch64 builds only.
void add_scalar(Table& table);
void add_scalar_kquants(Table& table);  // Q2_K..Q6_K, called by add_scalar
void add_avx2(Table& table);
void add_avx512(Table& table);
void add_avx512_vnni(Table& table);
void add_neon(Table& table);
void add_neon_dotprod(Table& table);
void add_neon_fhm(Table& table);  // F16 by fmlal where the CPU has FEAT_FHM
void add_avx512_gemm(Table& table);
void add_avx512_vnni_gemm(Table& table);

// True for F16 rows that llama.cpp's tinyBLAS declines (a length that is not a multiple of 16):
// ggml_vec_dot_f16 sums them, which the reference build (AVX512-FP16) does in half precision,
// for any number of tokens. Rows tinyBLAS takes match F32 sums, even for one token. Only levels
// that follow llama.cpp's x86 orders reproduce this; the ARM levels sum every F16 row in FP32.
inline bool f16_row_sums_in_half(Isa isa, GgmlType type, int64_t n) {
  return follows_llama_cpp_orders(isa) && type == GgmlType::F16 && n % 16 != 0;
}
// That half-precision dot (f16_half_dot.cpp): the same bits at every level.
float dot_f16_half_accumulated(int64_t n, const void* weights, const void* activations);

// A gemv that calls `Dot` per row, for kernels without a multi-row version.
template <VecDot Dot>
void gemv_by_rows(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                  float* out) {
  const auto* w = static_cast<const uint8_t*>(weights);
  for (int64_t r = 0; r < rows; ++r) out[r] = Dot(n, w + static_cast<size_t>(r) * stride, activations);
}

// A gemm that calls `Dot` per (row, token), for orders without a multi-token kernel.
template <VecDot Dot>
void gemm_by_dots(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                  size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* a = static_cast<const uint8_t*>(activations);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] =
          Dot(n, w + static_cast<size_t>(r) * stride, a + static_cast<size_t>(t) * act_stride);
    }
  }
}

// Registers a one-row kernel: `Dot` for vec_dot, and a gemv that calls it per row.
template <VecDot Dot>
void add_row_kernel(Table& table, GgmlType type, DotOrder order = DotOrder::VecDot) {
  table.set_dot(type, Dot, order);
  table.set_gemv(type, gemv_by_rows<Dot>, order);
}

// Tokens per chunk of a multi-token kernel: as many whole tiles of `tile` tokens as keep `budget`
// bytes of their (prepared) activations in L2 while every row passes over them; at least one tile.
inline int64_t tokens_per_chunk(size_t bytes_per_token, int64_t tile, size_t budget = 512 * 1024) {
  return std::max<int64_t>(tile, static_cast<int64_t>(budget / std::max<size_t>(1, bytes_per_token)) / tile * tile);
}

// Pointers to rows [r0, r0 + count) of a group of N rows (count <= N), `stride` bytes apart; a
// short last group repeats its last row in the spare slots, so kernels always run N whole rows
// and store only the first count results.
template <typename Block, int N>
inline void group_rows(const uint8_t* base, size_t stride, int64_t r0, int count, const Block* (&rows)[N]) {
  for (int r = 0; r < N; ++r) {
    rows[r] = reinterpret_cast<const Block*>(base + static_cast<size_t>(r0 + std::min(r, count - 1)) * stride);
  }
}

// Kernels that dot R rows at once share each activation load and per-block activation term
// among the rows. Rows(n, weights, stride, activations, out) writes out[0..R).
using Rows = void (*)(int64_t n, const void* weights, size_t stride, const void* activations, float* out);

// vec_dot from a one-row kernel.
template <Rows One>
float dot_from_rows(int64_t n, const void* weights, const void* activations) {
  float out;
  One(n, weights, 0, activations, &out);
  return out;
}

// A gemv running `Group` (kGroup rows at once) and `One` on the leftover rows. Kernels keep one
// accumulator sequence per row, so a row's result does not depend on which of the two ran it.
template <Rows Group, int kGroup, Rows One>
void gemv_in_groups(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                    float* out) {
  const auto* w = static_cast<const uint8_t*>(weights);
  int64_t r = 0;
  for (; r + kGroup <= rows; r += kGroup) Group(n, w + static_cast<size_t>(r) * stride, stride, activations, out + r);
  for (; r < rows; ++r) One(n, w + static_cast<size_t>(r) * stride, stride, activations, out + r);
}

// llama.cpp's repacked K-quant matmuls (DotOrder::Interleaved8) sum whole groups of four tokens
// in one order (its gemm's, `Grouped`) and the batch's last n_tokens % 4 tokens, or a batch of
// fewer than four, in another (its gemv's, `Single`); a gemm for them is both.
template <Gemm Grouped, Gemv Single>
void gemm_interleaved_k(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                        size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  const int64_t grouped = n_tokens > 3 ? n_tokens - n_tokens % 4 : 0;
  if (grouped > 0) Grouped(n, weights, stride, rows, activations, act_stride, grouped, out, out_stride);
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t t = grouped; t < n_tokens; ++t) {
    Single(n, weights, stride, rows, acts + static_cast<size_t>(t) * act_stride, out + static_cast<size_t>(t) * out_stride);
  }
}

}  // namespace bantam::quant::kernels
