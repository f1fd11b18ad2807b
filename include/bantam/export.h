/* BANTAM_API marks what libbantam_core.so exports: the C API and the public C++ classes. The
 * library is built with hidden symbols, so everything else in it stays internal. */
#ifndef BANTAM_EXPORT_H
#define BANTAM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define BANTAM_API __attribute__((visibility("default")))
#else
#define BANTAM_API
#endif

#endif /* BANTAM_EXPORT_H */
