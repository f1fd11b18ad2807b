/* bantam's C API, version 1: a plain-C view of bantam.hpp for apps and other languages.
 *
 * Conventions
 * - Handles (bantam_model, bantam_session, bantam_adapter) are opaque; each *_free accepts NULL.
 * - Calls that can fail return NULL, a bantam_status (BANTAM_OK is 0), or, where they return a
 *   count, a negative bantam_status. The reason is then in bantam_last_error() and
 *   bantam_last_error_code(), kept per thread until that thread's next bantam call.
 * - Parameter structs start with struct_size (set it to sizeof the struct, as the *_default_params
 *   functions do): fields past it take their defaults, so older callers keep working.
 * - Strings are UTF-8. Strings returned as char* are malloc'ed: free them with bantam_free.
 * - Thread safety is stated per function. "Any thread": may be called concurrently on the same
 *   handle. "One thread at a time": calls on the same handle must not overlap (different handles
 *   are independent).
 */
#ifndef BANTAM_H
#define BANTAM_H

#include <stddef.h>
#include <stdint.h>

#include "bantam/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The API version this header describes; bantam_api_version() says the library's. */
#define BANTAM_API_VERSION 1

typedef enum bantam_status {
  BANTAM_OK = 0,
  BANTAM_ERROR_INVALID_ARGUMENT = -1, /* a NULL handle, a bad size, count or value */
  BANTAM_ERROR_LOAD = -2,             /* a model or adapter file that cannot be used */
  BANTAM_ERROR_CANCELLED = -3,        /* a callback asked to stop */
  BANTAM_ERROR_BUFFER_TOO_SMALL = -4, /* the caller's buffer is too small; the size needed is reported */
  BANTAM_ERROR_STATE_MISMATCH = -5,   /* a saved state for another model, adapters or KV type, or damaged */
  BANTAM_ERROR_TEMPLATE = -6,         /* the chat template cannot render the messages or tools */
  BANTAM_ERROR_GENERATION = -7,       /* generation could not run (context, schema, tokenizer) */
  BANTAM_ERROR_OUT_OF_MEMORY = -8,
  BANTAM_ERROR_INTERNAL = -9
} bantam_status;

typedef enum bantam_finish_reason {
  BANTAM_FINISH_END_OF_GENERATION = 0, /* the model ended (or the constrained JSON is complete) */
  BANTAM_FINISH_MAX_TOKENS = 1,
  BANTAM_FINISH_STOP_STRING = 2,
  BANTAM_FINISH_CONTEXT_FULL = 3,
  BANTAM_FINISH_CANCELLED = 4 /* bantam_session_cancel or the token callback returned 0 */
} bantam_finish_reason;

typedef enum bantam_kv_type {
  BANTAM_KV_F16 = 0,
  BANTAM_KV_F32 = 1,
  BANTAM_KV_Q8_0 = 2,
  BANTAM_KV_Q4_0 = 3 /* Q8_0 and Q4_0: heads whose size is not a multiple of 32 keep F16 */
} bantam_kv_type;

typedef struct bantam_model bantam_model;
typedef struct bantam_session bantam_session;
typedef struct bantam_adapter bantam_adapter;

/* ---- Library ---- */

/* The API version of the loaded library (BANTAM_API_VERSION it was built with). Any thread. */
BANTAM_API int32_t bantam_api_version(void);
/* The runtime's version, e.g. "0.1.0 (commit 1a2b3c4d5)"; static storage. Any thread. */
BANTAM_API const char* bantam_version(void);
/* This thread's last error message ("" when the last call succeeded). Any thread. */
BANTAM_API const char* bantam_last_error(void);
/* This thread's last error code (BANTAM_OK when the last call succeeded). Any thread. */
BANTAM_API bantam_status bantam_last_error_code(void);
/* A short name for a status ("ok", "invalid_argument", ...); static storage. Any thread. */
BANTAM_API const char* bantam_status_name(bantam_status status);
/* Frees a string or buffer bantam returned; NULL is fine. Any thread. */
BANTAM_API void bantam_free(void* p);

/* ---- Models ---- */

/* Called while a model loads with the fraction done (0 to 1); return 0 to cancel the load. */
typedef int (*bantam_progress_callback)(void* user_data, float fraction);

typedef struct bantam_model_params {
  size_t struct_size;                /* sizeof(bantam_model_params) */
  bantam_progress_callback progress; /* NULL: none; with one, the weights are read in during the load */
  void* progress_user_data;
} bantam_model_params;

/* Defaults (no progress callback). Any thread. */
BANTAM_API bantam_model_params bantam_model_default_params(void);
/* Loads the GGUF file at path (a path only: names of installed models are resolved by the CLI,
 * not the library); NULL on error. Any thread. */
BANTAM_API bantam_model* bantam_model_load(const char* path);
/* bantam_model_load with params (NULL: defaults); NULL on error or cancel. Any thread. */
BANTAM_API bantam_model* bantam_model_load_with_params(const char* path, const bantam_model_params* params);
/* A GGUF image in memory, used in place: keep it unchanged until the model and its sessions are freed. Any thread. */
BANTAM_API bantam_model* bantam_model_load_from_memory(const void* data, size_t size, const bantam_model_params* params);
/* The GGUF file open on fd (mapped; the descriptor stays yours and may be closed on return). Any thread. */
BANTAM_API bantam_model* bantam_model_load_from_fd(int fd, const bantam_model_params* params);
/* Releases the caller's reference; sessions and adapters made from it keep it alive. One thread at a time. */
BANTAM_API void bantam_model_free(bantam_model* model);

typedef struct bantam_model_info {
  size_t struct_size;       /* sizeof(bantam_model_info), set by the caller */
  const char* architecture; /* "llama", "qwen2", ...: owned by the model */
  const char* name;         /* general.name or "": owned by the model */
  int64_t n_params;         /* elements of every tensor */
  int64_t context_length;   /* the context the model was trained for */
  int32_t n_vocab;
  int32_t n_embd;           /* the size of an embedding */
  int32_t n_layer;
  int32_t has_chat_template; /* 1 when the file holds a chat template (else a family format is used) */
} bantam_model_info;

/* Fills *info (up to info->struct_size). Any thread. */
BANTAM_API bantam_status bantam_model_get_info(const bantam_model* model, bantam_model_info* info);
/* The vocabulary size, or a negative status. Any thread. */
BANTAM_API int32_t bantam_model_n_vocab(const bantam_model* model);

/* ---- Text ---- */

/* Writes up to capacity ids of text (BOS/EOS as the vocabulary asks when add_special, control
 * tokens written as text recognized); returns how many the text has (call again with more room
 * if that exceeds capacity), or a negative status. Any thread. */
BANTAM_API int32_t bantam_tokenize(const bantam_model* model, const char* text, int32_t add_special, int32_t* ids,
                                   int32_t capacity);
/* The text of ids (control tokens skipped), malloc'ed, or NULL on error. Any thread. */
BANTAM_API char* bantam_detokenize(const bantam_model* model, const int32_t* ids, int32_t n_ids);

typedef struct bantam_chat_message {
  const char* role; /* "system", "user", "assistant", "tool" */
  const char* content;
} bantam_chat_message;

/* The conversation rendered by the model's chat template, or by template_source (a Jinja chat
 * template; NULL: the model's), with tools_json (an OpenAI-style JSON array of tools; NULL:
 * none) and the assistant's turn opened; malloc'ed, or NULL on error. Any thread. */
BANTAM_API char* bantam_chat_render(const bantam_model* model, const bantam_chat_message* messages, int32_t n_messages,
                                    const char* tools_json, const char* template_source);
/* bantam_chat_render tokenized (special tokens recognized, one BOS where due), written as in
 * bantam_tokenize; returns the count or a negative status. Any thread. */
BANTAM_API int32_t bantam_chat_tokenize(const bantam_model* model, const bantam_chat_message* messages,
                                        int32_t n_messages, const char* tools_json, const char* template_source,
                                        int32_t* ids, int32_t capacity);

/* ---- Embeddings ---- */

/* Writes the unit-length embedding of text (mean of the final hidden states, n_embd values) to
 * out; returns n_embd (call again with more room if that exceeds capacity) or a negative
 * status. threads 0: all cores. Any thread. */
BANTAM_API int32_t bantam_embed(const bantam_model* model, const char* text, int32_t threads, float* out,
                                int32_t capacity);

/* ---- LoRA adapters ---- */

/* A LoRA adapter (GGUF, general.type "adapter") checked against model; NULL on error (the
 * message names the file and the tensor). Any thread. */
BANTAM_API bantam_adapter* bantam_adapter_load(const bantam_model* model, const char* path);
/* Releases the caller's reference; sessions using it keep it. One thread at a time. */
BANTAM_API void bantam_adapter_free(bantam_adapter* adapter);

/* ---- Sessions ---- */

typedef struct bantam_session_params {
  size_t struct_size;     /* sizeof(bantam_session_params) */
  int64_t context_length; /* 0: 4096 */
  int32_t threads;        /* 0: all cores */
  int32_t batch_size;     /* prompt tokens per forward pass; 0: 512 */
  bantam_kv_type kv_type; /* default F16 */
  const bantam_adapter* const* adapters; /* n_adapters adapters loaded for this model, applied beside the weights */
  const float* adapter_scales;           /* one per adapter; NULL: all 1 */
  int32_t n_adapters;
} bantam_session_params;

/* Defaults. Any thread. */
BANTAM_API bantam_session_params bantam_session_default_params(void);
/* A session (its own KV cache) on model; params NULL: defaults; NULL on error. Sessions keep a
 * reference to the model and adapters. Any thread (the model is shared read-only). */
BANTAM_API bantam_session* bantam_session_new(const bantam_model* model, const bantam_session_params* params);
/* bantam_session_new with adapters (adapter i at scales[i]; NULL scales: all 1) added to params'. Any thread. */
BANTAM_API bantam_session* bantam_session_new_with_adapters(const bantam_model* model,
                                                            const bantam_session_params* params,
                                                            const bantam_adapter* const* adapters,
                                                            const float* scales, int32_t n_adapters);
/* Frees the session (not while a call on it runs). One thread at a time. */
BANTAM_API void bantam_session_free(bantam_session* session);
/* Makes the running generation on session stop with BANTAM_FINISH_CANCELLED. Any thread. */
BANTAM_API void bantam_session_cancel(bantam_session* session);
/* Forgets the sequence. One thread at a time. */
BANTAM_API bantam_status bantam_session_reset(bantam_session* session);
/* Writes up to capacity ids of the sequence in the session's cache; returns its length or a negative status. One thread at a time. */
BANTAM_API int32_t bantam_session_tokens(const bantam_session* session, int32_t* ids, int32_t capacity);

typedef struct bantam_generate_params {
  size_t struct_size; /* sizeof(bantam_generate_params) */
  int32_t max_tokens; /* < 0: until end of generation or a full context */
  float temperature;  /* <= 0: greedy */
  int32_t top_k;      /* <= 0: off */
  float top_p;        /* >= 1: off */
  float min_p;        /* <= 0: off */
  float repeat_penalty;    /* 1: off */
  float frequency_penalty; /* 0: off */
  float presence_penalty;  /* 0: off */
  int32_t penalty_last_n;  /* tokens the penalties look back on */
  uint64_t seed;           /* 0: random */
  const char* const* stop; /* n_stop stop strings: generation ends before any of them */
  int32_t n_stop;
  const char* json_schema; /* a JSON Schema the output must follow (compact JSON); NULL: free text */
} bantam_generate_params;

/* Defaults matching bantam.hpp's GenerateOptions. Any thread. */
BANTAM_API bantam_generate_params bantam_generate_default_params(void);

/* Called per token with its id (-1 for text released at the end), its text (not NUL-terminated,
 * text_len bytes) and its log-probability; return 0 to stop (BANTAM_FINISH_CANCELLED). */
typedef int (*bantam_token_callback)(void* user_data, int32_t id, const char* text, size_t text_len, float logprob);

typedef struct bantam_generate_result {
  size_t struct_size;                 /* sizeof(bantam_generate_result), set by the caller */
  int32_t n_tokens;                   /* tokens generated */
  bantam_finish_reason finish_reason;
  int32_t n_prompt_tokens;
  int32_t n_reused_tokens;            /* prompt tokens the cache already held */
  double prompt_seconds;
  double generation_seconds;
} bantam_generate_result;

/* Continues the session's sequence to become prompt (the longest prefix already cached is kept,
 * the rest evaluated), then generates; fills *result when not NULL. One thread at a time. */
BANTAM_API bantam_status bantam_session_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                                                 const bantam_generate_params* params, bantam_token_callback callback,
                                                 void* user_data, bantam_generate_result* result);
/* bantam_chat_tokenize's prompt (the whole conversation so far) then bantam_session_generate. One thread at a time. */
BANTAM_API bantam_status bantam_session_chat(bantam_session* session, const bantam_chat_message* messages,
                                             int32_t n_messages, const char* tools_json, const char* template_source,
                                             const bantam_generate_params* params, bantam_token_callback callback,
                                             void* user_data, bantam_generate_result* result);
/* bantam_session_generate returning the number of tokens generated, or a negative status. One thread at a time. */
BANTAM_API int32_t bantam_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                                   const bantam_generate_params* params, bantam_token_callback callback,
                                   void* user_data);

/* ---- Session state ---- */

/* Saves the sequence and its KV cache (a versioned format naming the model, adapters and KV
 * type) into buffer; *size receives the bytes needed. BANTAM_ERROR_BUFFER_TOO_SMALL (nothing
 * written) when capacity is smaller, e.g. buffer NULL to ask the size. One thread at a time. */
BANTAM_API bantam_status bantam_session_save_state(const bantam_session* session, void* buffer, size_t capacity,
                                                   size_t* size);
/* Replaces the session's sequence with a saved one; BANTAM_ERROR_STATE_MISMATCH saying why when
 * it is for another model, adapters or KV type, too long, truncated or corrupted (the session
 * is then empty). One thread at a time. */
BANTAM_API bantam_status bantam_session_restore_state(bantam_session* session, const void* buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BANTAM_H */
