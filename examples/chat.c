/* One chat turn with bantam's C API, streamed as it is generated (the model's chat template,
 * greedy sampling), then the embedding of the message.
 *   chat_c MODEL.gguf [MESSAGE]
 * chat_cpp does the same with the C++ API and prints the same lines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <bantam/bantam.h>

static int print_token(void* user_data, int32_t id, const char* text, size_t text_len, float logprob) {
  (void)user_data, (void)id, (void)logprob;
  fwrite(text, 1, text_len, stdout);
  fflush(stdout);
  return 1; /* keep going */
}

static const char* finish_name(bantam_finish_reason reason) {
  switch (reason) {
    case BANTAM_FINISH_END_OF_GENERATION: return "end_of_generation";
    case BANTAM_FINISH_MAX_TOKENS: return "max_tokens";
    case BANTAM_FINISH_STOP_STRING: return "stop_string";
    case BANTAM_FINISH_CONTEXT_FULL: return "context_full";
    case BANTAM_FINISH_CANCELLED: return "cancelled";
  }
  return "unknown";
}

/* Prints "embedding: N values, norm X, starts A B C" for text; 0 on success. */
static int print_embedding(const bantam_model* model, const char* text) {
  const int32_t n = bantam_embed(model, text, 0, NULL, 0); /* no room: asks the size */
  float* values = n > 0 ? malloc(sizeof(float) * (size_t)n) : NULL;
  if (!values || bantam_embed(model, text, 0, values, n) != n) {
    free(values);
    return 1;
  }
  double norm = 0;
  for (int32_t i = 0; i < n; ++i) norm += (double)values[i] * values[i];
  printf("embedding: %d values, norm %.4f, starts", (int)n, sqrt(norm));
  for (int32_t i = 0; i < n && i < 3; ++i) printf(" %.4f", values[i]);
  printf("\n");
  free(values);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [MESSAGE]\n", argv[0]);
    return 2;
  }
  const char* message = argc > 2 ? argv[2] : "Tell me a story.";
  bantam_model* model = bantam_model_load(argv[1]);
  bantam_session_params session_params = bantam_session_default_params();
  session_params.context_length = 512;
  bantam_session* session = model ? bantam_session_new(model, &session_params) : NULL;
  int failed = session == NULL;
  if (!failed) {
    const bantam_chat_message messages[] = {{"user", message}};
    bantam_generate_params params = bantam_generate_default_params();
    params.max_tokens = 32;
    params.temperature = 0; /* greedy: the same answer every run */
    bantam_generate_result result = {.struct_size = sizeof result};
    failed = bantam_session_chat(session, messages, 1, NULL, NULL, &params, print_token, NULL, &result) != BANTAM_OK;
    if (!failed) printf("\n[%d tokens, %s]\n", (int)result.n_tokens, finish_name(result.finish_reason));
  }
  if (!failed) failed = print_embedding(model, message);
  if (failed) fprintf(stderr, "error: %s\n", bantam_last_error());
  bantam_session_free(session);
  bantam_model_free(model);
  return failed;
}
