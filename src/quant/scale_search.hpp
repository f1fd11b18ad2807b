// Searches for good per-group scales (and mins) used by the K-quant quantizers: rounding with
// the plain max-based scale wastes levels, so each candidate scale near it is tried and the
// least-squares optimal scale (and min) for the resulting levels is kept when it lowers the
// weighted error. Internal to src/quant.
#pragma once

#include <cstdint>

namespace bantam::quant {

// Levels 0..nmax for x ≈ scale * L - min_out (min_out >= 0). Candidate inverse scales are
// (nmax + rmin + rdelta*k) / (max - min) for k = 0..steps; error is weighted |diff| when
// `abs_error`, squared otherwise. Returns the scale; writes levels to L.
struct AffineSearch {
  int nmax;
  float rmin, rdelta;
  int steps;
  bool abs_error;
};
float search_affine(const AffineSearch& params, int n, const float* x, const float* weights, uint8_t* L,
                    float& min_out);

// Signed levels -nmax..nmax-1 (stored as L + nmax) for x ≈ scale * L, weighted by x^2; tries
// 19 inverse scales around -nmax/max. Returns the (possibly negative) scale.
float search_symmetric(int n, int nmax, const float* x, int8_t* L);

// Like search_symmetric, but refines the levels one at a time (coordinate descent on the
// x^2-weighted error) instead of trying scales; used by Q3_K. Levels stored as L + nmax.
float search_symmetric_refine(int n, int nmax, const float* x, int8_t* L);

}  // namespace bantam::quant
