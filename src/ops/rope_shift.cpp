#include "ops/rope_shift.hpp"

#include <cmath>
#include <vector>

namespace bantam::ops {

void rope_shift_cos_sin(const RopeParams& params, int64_t from, int64_t to, float* cos_sin) {
  const int half = params.n_rot / 2;
  std::vector<float> from_angles(static_cast<size_t>(half)), to_angles(static_cast<size_t>(half));
  rope_angles(params, from, from_angles.data());
  rope_angles(params, to, to_angles.data());
  for (int i = 0; i < half; ++i) {
    const double delta = static_cast<double>(to_angles[i]) - static_cast<double>(from_angles[i]);
    cos_sin[2 * i] = static_cast<float>(std::cos(delta));
    cos_sin[2 * i + 1] = static_cast<float>(std::sin(delta));
  }
}

}  // namespace bantam::ops
