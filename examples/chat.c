/* Streams a greedy continuation of a prompt with bantam's C API.
 *   chat_c MODEL.gguf [PROMPT] */
#include <stdio.h>
#include <stdlib.h>

#include <bantam/bantam.h>

static int print_token(void* user_data, int32_t id, const char* text, size_t text_len, float logprob) {
  (void)user_data, (void)id, (void)logprob;
  fwrite(text, 1, text_len, stdout);
  fflush(stdout);
  return 1; /* keep going */
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [PROMPT]\n", argv[0]);
    return 2;
  }
  const char* prompt = argc > 2 ? argv[2] : "Once upon a time";
  bantam_model* model = bantam_model_load(argv[1]);
  if (!model) {
    fprintf(stderr, "error: %s\n", bantam_last_error());
    return 1;
  }
  int32_t ids[512];
  const int32_t n_ids = bantam_tokenize(model, prompt, 1, ids, 512);
  bantam_session* session = n_ids > 0 && n_ids <= 512 ? bantam_session_new(model, NULL) : NULL;
  int32_t generated = -1;
  if (session) {
    bantam_generate_params params = bantam_generate_default_params();
    params.max_tokens = 32;
    params.temperature = 0; /* greedy: the same text every run */
    generated = bantam_generate(session, ids, n_ids, &params, print_token, NULL);
  }
  if (generated < 0) fprintf(stderr, "error: %s\n", bantam_last_error());
  else printf("\n");
  bantam_session_free(session);
  bantam_model_free(model);
  return generated < 0 ? 1 : 0;
}
