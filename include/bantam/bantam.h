/* bantam's C API: a plain-C view of bantam.hpp for other languages.
 * Every call that can fail returns NULL or a negative number and leaves a message for
 * bantam_last_error() (per thread). Strings returned by bantam are freed with bantam_free. */
#ifndef BANTAM_H
#define BANTAM_H

#include <stddef.h>
#include <stdint.h>

#include "bantam/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bantam_model bantam_model;
typedef struct bantam_session bantam_session;

/* The last error message of this thread ("" when none). */
BANTAM_API const char* bantam_last_error(void);
BANTAM_API void bantam_free(void* p);

BANTAM_API bantam_model* bantam_model_load(const char* path);
BANTAM_API void bantam_model_free(bantam_model* model);
BANTAM_API int32_t bantam_model_n_vocab(const bantam_model* model);

/* Writes up to `capacity` ids; returns how many the text has (call again with more room if
 * that exceeds capacity), or -1 on error. */
BANTAM_API int32_t bantam_tokenize(const bantam_model* model, const char* text, int32_t add_special,
                        int32_t* ids, int32_t capacity);
/* A malloc'ed UTF-8 string (free with bantam_free), or NULL on error. */
BANTAM_API char* bantam_detokenize(const bantam_model* model, const int32_t* ids, int32_t n_ids);

typedef struct bantam_session_params {
  int64_t context_length; /* 0: 4096 */
  int32_t threads;        /* 0: all cores */
  int32_t batch_size;     /* 0: 512 */
} bantam_session_params;

/* Sessions keep a reference to the model: it may be freed before them. */
BANTAM_API bantam_session* bantam_session_new(const bantam_model* model, const bantam_session_params* params);
BANTAM_API void bantam_session_free(bantam_session* session);
/* Thread-safe: the running bantam_generate returns early. */
BANTAM_API void bantam_session_cancel(bantam_session* session);

/* A LoRA adapter (GGUF, general.type "adapter") checked against one model; NULL on error (the
 * message names the file and the tensor). Sessions keep a reference: free it when you like. */
typedef struct bantam_adapter bantam_adapter;
BANTAM_API bantam_adapter* bantam_adapter_load(const bantam_model* model, const char* path);
BANTAM_API void bantam_adapter_free(bantam_adapter* adapter);

/* bantam_session_new with n_adapters adapters applied beside the base weights, adapter i at
 * scales[i] (NULL scales: all 1). The adapters must have been loaded for this model. */
BANTAM_API bantam_session* bantam_session_new_with_adapters(const bantam_model* model, const bantam_session_params* params,
                                                 const bantam_adapter* const* adapters, const float* scales,
                                                 int32_t n_adapters);

typedef struct bantam_generate_params {
  int32_t max_tokens; /* < 0: until end of generation or a full context */
  float temperature;  /* <= 0: greedy */
  int32_t top_k;
  float top_p;
  float min_p;
  float repeat_penalty;
  uint64_t seed;      /* 0: random */
  const char* const* stop; /* n_stop stop strings */
  int32_t n_stop;
} bantam_generate_params;

/* Defaults matching bantam.hpp's GenerateOptions. */
BANTAM_API bantam_generate_params bantam_generate_default_params(void);

/* Called per token with its id (-1 for text released at the end), its text (not
 * NUL-terminated, `text_len` bytes) and log-probability; return 0 to stop. */
typedef int (*bantam_token_callback)(void* user_data, int32_t id, const char* text, size_t text_len,
                                     float logprob);

/* Generates after the prompt ids. Returns the number of tokens generated, or -1 on error. */
BANTAM_API int32_t bantam_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                        const bantam_generate_params* params, bantam_token_callback callback,
                        void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* BANTAM_H */
