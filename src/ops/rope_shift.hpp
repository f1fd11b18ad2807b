// Moving keys that RoPE already rotated to another position (a context shift): RoPE is a
// rotation by an angle linear in the position, so a key rotated for `from` becomes the key
// rotated for `to` by one more rotation, with no need for the key before RoPE.
#pragma once

#include <cstdint>

#include "ops/ops.hpp"

namespace bantam::ops {

// cos/sin table (rope_apply's layout) that turns a key rotated for position `from` into the key
// rotated for `to`. Each angle is the difference of the float angles rope_cos_sin used at the two
// positions, taken in double, so the result equals rope_apply at `to` up to a few roundings at any
// position (rotating by the angle of to - from instead would carry the float angle's rounding,
// about 2^-24 of the position in radians). The table is a pure rotation: attn_factor, already in
// the key's length, is not applied again.
void rope_shift_cos_sin(const RopeParams& params, int64_t from, int64_t to, float* cos_sin);

}  // namespace bantam::ops
