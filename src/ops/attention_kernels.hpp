// The inner step of prompt attention: a few query rows of one KV head against one tile of keys,
// with an online softmax (running maximum and sum per row). An AVX-512 kernel where the CPU has
// it, else a portable one of the same math; they differ only in summation order and in the exp
// (a polynomial within 2 ulp of expf in the AVX-512 kernel). Internal to src/ops.
#pragma once

#include <cstdint>

namespace bantam::ops {

// Keys per tile; the kernels read this many keys of every transposed key row, present or not.
inline constexpr int64_t kTileKeys = 64;
// Query rows per kernel call: enough to reuse each loaded key and value several times, few
// enough that their score and output accumulators stay in the 32 AVX-512 registers.
inline constexpr int kTileRows = 6;

// Up to kTileRows query rows and their running softmax state. Key indices are those of KeyTile.
struct QueryRows {
  int count = 0;
  int dk = 0, dv = 0;
  const float* q = nullptr;             // [count][dk], already multiplied by the score scale
  const int64_t* first_key = nullptr;   // per row, the first and last key it sees
  const int64_t* last_key = nullptr;
  float* max = nullptr;                 // per row, the largest score so far (-inf before any)
  float* sum = nullptr;                 // per row, the sum of exp(score - max) so far
  float* out = nullptr;                 // [count][dv], the weighted sum of values so far
};

// Keys first .. first + count - 1 (count <= kTileKeys).
struct KeyTile {
  int64_t first = 0;
  int64_t count = 0;
  const float* keys_t = nullptr;  // dimension i of key first + j at keys_t[i * key_stride + j]
  int64_t key_stride = 0;         // with kTileKeys floats readable from each row start
  const float* values = nullptr;  // value of key first + j at values + j * value_stride
  int64_t value_stride = 0;
};

// For each row: scores s = q . k of the keys it sees (softcap > 0: s = softcap * tanh(s)), then
// max' = max(max, s...), out = out * exp(max - max') + sum_k exp(s_k - max') * v_k, and the
// same for sum. Rows that see no key of the tile are left as they were.
void attend_tile(const QueryRows& rows, const KeyTile& tile, float softcap);

// The portable kernel, whatever the CPU (for tests against the SIMD one).
void attend_tile_portable(const QueryRows& rows, const KeyTile& tile, float softcap);

#if defined(__x86_64__)
// The AVX-512 F kernel; only where quant::active_isa() is an AVX-512 level.
void attend_tile_avx512(const QueryRows& rows, const KeyTile& tile, float softcap);
#endif

}  // namespace bantam::ops
