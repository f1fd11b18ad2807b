// The aarch64 int8 GEMM's driver, written once for three levels: int8_gemm_neon.cpp (ARMv8.0,
// smull/sadalp), int8_gemm_neon_dotprod.cpp (sdot) and int8_gemm_neon_i8mm.cpp (smmla) each define
// a Level (panel layout and tile kernel) and include this after their target switch. Everything
// here has internal linkage so the copies never mix.
//
// Sixteen rows are unpacked (int8_gemm_neon_forms.hpp) into a panel of signed levels in four
// quads of four rows; a tile takes one quad and up to eight tokens of a group over the whole row
// length. Per quad and weight block of L elements the panel holds 4 * L levels, the rows' chunks
// of Level::kChunk elements side by side (row r's elements i at (i / kChunk) * 4 * kChunk +
// r * kChunk + i % kChunk: whole rows for smull, 4-byte lanes for sdot, 8-byte rows of a 2x8
// operand for smmla), then Level::kScaleCopies copies of each row's scale d and min term c.
// Internal to src/quant.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "quant/int8_gemm_kernels.hpp"
#include "quant/int8_gemm_neon_forms.hpp"

namespace bantam::quant::kernels {
namespace {

constexpr int kRows = kInt8PanelRows;
constexpr int kQuadRows = 4;
constexpr int kQuads = kRows / kQuadRows;
constexpr int kTile = kInt8TileTokens;

struct Panel {
  std::vector<int8_t> levels;  // [quad][block][4 * L]
  std::vector<float> scale;    // d,  [quad][block][4 * kScaleCopies]
  std::vector<float> offset;   // c,  [quad][block][4 * kScaleCopies]
  int64_t blocks = 0;
};

// f(integral_constant<int, 0>) ... f(integral_constant<int, N-1>): unrolled, with constant indices
// (the lane arguments of NEON intrinsics must be constants).
template <int N, typename F>
inline void for_each_index(F&& f) {
  [&]<int... i>(std::integer_sequence<int, i...>) { (f(std::integral_constant<int, i>{}), ...); }(
      std::make_integer_sequence<int, N>{});
}

// Rows [first, first + count) (count <= 16; a short panel repeats its last row).
template <typename Level, typename Form>
void unpack_panel(const uint8_t* first, size_t stride, int count, int64_t k, Panel& panel) {
  using Block = typename Form::Block;
  constexpr int kBlock = int8_form(Form::kType).block;
  constexpr int kBlocksPerUnit = Form::kUnit / kBlock;
  constexpr int kChunk = Level::kChunk;
  constexpr int kCopies = Level::kScaleCopies;
  static_assert(kBlock % kChunk == 0);
  const int64_t units = k / Form::kUnit;
  const int64_t blocks = k / kBlock;
  panel.blocks = blocks;
  panel.levels.resize(static_cast<size_t>(kQuads * blocks * kQuadRows * kBlock));
  panel.scale.resize(static_cast<size_t>(kQuads * blocks * kQuadRows * kCopies));
  panel.offset.resize(panel.scale.size());
  alignas(16) int8_t levels[kRows][Form::kUnit];
  float d[kRows][kBlocksPerUnit], c[kRows][kBlocksPerUnit];
  const Block* rows[kRows];
  for (int r = 0; r < kRows; ++r) {
    rows[r] = reinterpret_cast<const Block*>(first + static_cast<size_t>(std::min(r, count - 1)) * stride);
  }
  for (int64_t u = 0; u < units; ++u) {
    for (int r = 0; r < kRows; ++r) Form::unpack(rows[r][u], levels[r], d[r], c[r]);
    for (int quad = 0; quad < kQuads; ++quad) {
      for (int bl = 0; bl < kBlocksPerUnit; ++bl) {
        const size_t slot = static_cast<size_t>(quad * blocks + u * kBlocksPerUnit + bl);
        int8_t* dst = panel.levels.data() + slot * kQuadRows * kBlock;
        for (int r = 0; r < kQuadRows; ++r) {
          const int row = quad * kQuadRows + r;
          for (int i = 0; i < kBlock; i += kChunk) {
            std::memcpy(dst + i * kQuadRows + r * kChunk, &levels[row][bl * kBlock + i], kChunk);
          }
          for (int copy = 0; copy < kCopies; ++copy) {
            panel.scale[(slot * kQuadRows + r) * kCopies + copy] = d[row][bl];
            panel.offset[(slot * kQuadRows + r) * kCopies + copy] = c[row][bl];
          }
        }
      }
    }
  }
}

// Where a tile's inputs start: quad `quad` of `panel`, token group `group` of `acts`.
struct TileInputs {
  const int8_t* levels;
  const float* scale;
  const float* offset;
  const int8_t* q;
  const float* da;
  const float* scaled_sum;
  int64_t blocks32;
};

template <int kBlock, int kCopies>
TileInputs tile_inputs(const Panel& panel, int quad, const Int8Activations& acts, int64_t group) {
  const int64_t blocks32 = acts.k / 32;
  const auto panel_slot = static_cast<size_t>(quad * panel.blocks);
  const auto floats = static_cast<size_t>(int8_token_floats(acts.layout));
  return {panel.levels.data() + panel_slot * kQuadRows * kBlock,
          panel.scale.data() + panel_slot * kQuadRows * kCopies,
          panel.offset.data() + panel_slot * kQuadRows * kCopies,
          acts.q.data() + static_cast<size_t>(group * blocks32) * kTile * 32,
          acts.scale.data() + static_cast<size_t>(group * blocks32) * floats,
          acts.scaled_sum.data() + static_cast<size_t>(group * (acts.k / kBlock)) * floats,
          blocks32};
}

// Integer sums start at the int32 bits of 1.5 * 2^23: with |sum| < 2^22 (a block's is at most
// 32 * 128 * 127) those bits are the float 1.5 * 2^23 + sum, exactly, and one fsub gives the sum
// as a float. scvtf costs two uops on a single pipe on Neoverse N1/N2/V1; add and fsub one on any.
// (Folding the fsub into an fma with -1.5 * 2^23 * d, exact, saves nothing: NEON's fmla overwrites
// its addend, so each token would need its own copy of it.)
constexpr int32_t kSumStart = 0x4B400000;
inline float32x4_t started_sum_to_float(int32x4_t started) {
  return vsubq_f32(vreinterpretq_f32_s32(started), vdupq_n_f32(12582912.0f));
}
// N vectors of kSumStart, loaded (from distinct addresses, by a pointer the compiler cannot follow
// out of the loop) rather than copied from one register: loads issue on the load pipes, register
// copies on the vector pipes that the products keep busy.
constexpr int kMaxSumStarts = 8;
alignas(64) const int32_t kSumStarts[kMaxSumStarts * 4] = {
    kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart,
    kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart,
    kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart,
    kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart, kSumStart};
// Even and odd vectors come through two pointers, as with hidden(): no ldp q.
template <int N>
inline void load_sum_starts(int32x4_t* out) {
  static_assert(N <= kMaxSumStarts);
  const int32_t* starts[2] = {kSumStarts, kSumStarts + 4};
  asm volatile("" : "+r"(starts[0]), "+r"(starts[1]));
  for_each_index<N>([&](auto i) { out[i] = vld1q_s32(starts[i % 2] + 8 * (i / 2)); });
}

// p as the compiler sees it: the same address, but not provably so. Loads through a pointer and
// through its hidden copy 16 bytes on never share a base register, so the compiler cannot fuse two
// adjacent vector loads into one ldp q: that takes 6 cycles on Cortex-A55's single load pipe,
// two ldr q take 2 (the same on Neoverse cores).
template <typename T>
inline const T* hidden(const T* p) {
  asm("" : "+r"(p));
  return p;
}

// The tile for `tokens` (1..8) tokens as a constant. Out of line (one call per tile and panel
// pass): one function per level and form, the name scripts/arm_mca.py measures.
template <typename Level, int kBlock, bool kMins>
[[gnu::noinline]] void run_tile(int tokens, const TileInputs& in, float* out, size_t out_stride) {
  switch (tokens) {
    case 8: Level::template tile<8, kBlock, kMins>(in, out, out_stride); break;
    case 7: Level::template tile<7, kBlock, kMins>(in, out, out_stride); break;
    case 6: Level::template tile<6, kBlock, kMins>(in, out, out_stride); break;
    case 5: Level::template tile<5, kBlock, kMins>(in, out, out_stride); break;
    case 4: Level::template tile<4, kBlock, kMins>(in, out, out_stride); break;
    case 3: Level::template tile<3, kBlock, kMins>(in, out, out_stride); break;
    case 2: Level::template tile<2, kBlock, kMins>(in, out, out_stride); break;
    default: Level::template tile<1, kBlock, kMins>(in, out, out_stride); break;
  }
}

// Panels unpacked together, then every token group runs over all of them while its activations
// are in L1 (as in the x86 kernel): fewer passes over the activations, as long as the panels stay
// in L2.
constexpr int kMaxPanelsPerPass = 4;
constexpr size_t kPanelBudget = 512 * 1024;

template <typename Level, typename Form>
void gemm_with(const void* weights, size_t stride, int64_t row_begin, int64_t row_end, const Int8Activations& acts,
               float* out, size_t out_stride) {
  constexpr Int8Form kForm = int8_form(Form::kType);
  thread_local Panel panels[kMaxPanelsPerPass];
  const size_t panel_bytes = static_cast<size_t>(acts.k) * kRows * 5 / 4;
  const int per_pass = static_cast<int>(std::clamp<size_t>(kPanelBudget / panel_bytes, 1, kMaxPanelsPerPass));
  const auto* base = static_cast<const uint8_t*>(weights);
  const int64_t groups = (acts.n_tokens + kTile - 1) / kTile;
  for (int64_t pass = row_begin; pass < row_end; pass += int64_t{kRows} * per_pass) {
    int n_panels = 0;
    int counts[kMaxPanelsPerPass];
    for (int64_t r = pass; r < row_end && n_panels < per_pass; r += kRows, ++n_panels) {
      counts[n_panels] = static_cast<int>(std::min<int64_t>(kRows, row_end - r));
      unpack_panel<Level, Form>(base + static_cast<size_t>(r) * stride, stride, counts[n_panels], acts.k,
                                panels[n_panels]);
    }
    for (int64_t g = 0; g < groups; ++g) {
      const int tokens = static_cast<int>(std::min<int64_t>(kTile, acts.n_tokens - g * kTile));
      float* group_out = out + static_cast<size_t>(g * kTile) * out_stride;
      for (int p = 0; p < n_panels; ++p) {
        for (int quad = 0; quad * kQuadRows < counts[p]; ++quad) {
          const int rows = std::min(kQuadRows, counts[p] - quad * kQuadRows);
          const TileInputs inputs = tile_inputs<kForm.block, Level::kScaleCopies>(panels[p], quad, acts, g);
          float* dst = group_out + pass + int64_t{kRows} * p + quad * kQuadRows;
          if (rows == kQuadRows) {
            run_tile<Level, kForm.block, kForm.mins>(tokens, inputs, dst, out_stride);
            continue;
          }
          // A short last quad: the tile writes all four rows (one vector store per token), here
          // to a scratch copy.
          float scratch[kTile * kQuadRows];
          run_tile<Level, kForm.block, kForm.mins>(tokens, inputs, scratch, kQuadRows);
          for (int t = 0; t < tokens; ++t) {
            std::copy(scratch + t * kQuadRows, scratch + t * kQuadRows + rows, dst + static_cast<size_t>(t) * out_stride);
          }
        }
      }
    }
  }
}

template <typename Level>
bool gemm_level(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                const Int8Activations& acts, float* out, size_t out_stride) {
  return with_form(type, [&]<typename Form>(Form) {
    gemm_with<Level, Form>(weights, stride, row_begin, row_end, acts, out, out_stride);
  });
}

}  // namespace
}  // namespace bantam::quant::kernels
