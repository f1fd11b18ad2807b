/* Compiled as strict C by the build (tests/layers/CMakeLists.txt): the C API's header must stay
 * plain C that any C compiler and FFI generator reads. */
#include "bantam/bantam.h"

/* ISO C forbids an empty translation unit. */
int bantam_h_is_c(void) { return BANTAM_API_VERSION; }
