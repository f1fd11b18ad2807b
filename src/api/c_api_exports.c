/* libbantam_core.so's own translation unit: the C API's definitions come from the static
 * library linked whole; compiling the header as C here checks it stays plain C. */
#include "bantam/bantam.h"
