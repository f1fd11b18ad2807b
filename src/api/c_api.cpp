// The C API, library and model side: errors, loading, model info, text, chat prompts,
// embeddings and adapters. Thin wrappers over bantam.hpp; sessions are in c_api_session.cpp.
#include <cstdlib>

#include <fmt/format.h>

#include "api/c_api_impl.hpp"

namespace bantam::c_api {

namespace {

thread_local bantam_status g_last_status = BANTAM_OK;
thread_local std::string g_last_error;

LoadOptions load_options(const bantam_model_params* given) {
  const bantam_model_params p = read_params(given, bantam_model_default_params(), "bantam_model_params");
  LoadOptions options;
  if (p.progress) {
    options.progress = [callback = p.progress, user = p.progress_user_data](float fraction) {
      return callback(user, fraction) != 0;
    };
  }
  return options;
}

template <typename Load>
bantam_model* load_model(Load&& load) {
  bantam_model* result = nullptr;
  guarded(BANTAM_ERROR_LOAD, [&] { result = new bantam_model{load()}; });
  return result;
}

}  // namespace

void set_last_error(bantam_status status, const std::string& message) noexcept {
  g_last_status = status;
  g_last_error = message;
}

char* malloc_string(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

std::vector<ChatMessage> chat_messages(const bantam_chat_message* messages, int32_t n_messages) {
  if (n_messages < 0 || (n_messages > 0 && !messages)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("{} chat messages at {}", n_messages,
                                                             messages ? "an address" : "NULL"));
  }
  std::vector<ChatMessage> list;
  for (int32_t i = 0; i < n_messages; ++i) {
    if (!messages[i].role || !messages[i].content) {
      throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("chat message {} has a NULL role or content", i));
    }
    list.push_back({messages[i].role, messages[i].content});
  }
  return list;
}

ChatOptions chat_options(const char* tools_json, const char* template_source) {
  return ChatOptions{.add_generation_prompt = true,
                     .tools_json = tools_json ? tools_json : "",
                     .template_source = template_source ? template_source : ""};
}

}  // namespace bantam::c_api

using namespace bantam::c_api;

extern "C" {

int32_t bantam_api_version(void) { return BANTAM_API_VERSION; }

const char* bantam_version(void) {
  static const std::string version = fmt::format("{} (commit {})", BANTAM_VERSION, BANTAM_GIT_COMMIT);
  return version.c_str();
}

const char* bantam_last_error(void) { return g_last_error.c_str(); }
bantam_status bantam_last_error_code(void) { return g_last_status; }

const char* bantam_status_name(bantam_status status) {
  switch (status) {
    case BANTAM_OK: return "ok";
    case BANTAM_ERROR_INVALID_ARGUMENT: return "invalid_argument";
    case BANTAM_ERROR_LOAD: return "load_failed";
    case BANTAM_ERROR_CANCELLED: return "cancelled";
    case BANTAM_ERROR_BUFFER_TOO_SMALL: return "buffer_too_small";
    case BANTAM_ERROR_STATE_MISMATCH: return "state_mismatch";
    case BANTAM_ERROR_TEMPLATE: return "template_error";
    case BANTAM_ERROR_GENERATION: return "generation_failed";
    case BANTAM_ERROR_OUT_OF_MEMORY: return "out_of_memory";
    case BANTAM_ERROR_INTERNAL: return "internal_error";
  }
  return "unknown";
}

void bantam_free(void* p) { std::free(p); }

bantam_model_params bantam_model_default_params(void) { return {sizeof(bantam_model_params), nullptr, nullptr}; }

bantam_model* bantam_model_load(const char* path) { return bantam_model_load_with_params(path, nullptr); }

bantam_model* bantam_model_load_with_params(const char* path, const bantam_model_params* params) {
  return load_model([&] { return bantam::Model::load(require_text(path, "path"), load_options(params)); });
}

bantam_model* bantam_model_load_from_memory(const void* data, size_t size, const bantam_model_params* params) {
  return load_model([&] {
    if (!data) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "data is NULL");
    return bantam::Model::load_from_memory({static_cast<const uint8_t*>(data), size}, fmt::format("<memory {} bytes>", size), load_options(params));
  });
}

bantam_model* bantam_model_load_from_fd(int fd, const bantam_model_params* params) {
  return load_model([&] {
    if (fd < 0) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("file descriptor {} is not valid", fd));
    return bantam::Model::load_from_fd(fd, fmt::format("<fd {}>", fd), load_options(params));
  });
}

void bantam_model_free(bantam_model* model) { delete model; }

bantam_status bantam_model_get_info(const bantam_model* model, bantam_model_info* info) {
  return guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] {
    const bantam::ModelInfo& m = require(model, "model").model->info();
    const bantam_model_info filled{sizeof(bantam_model_info),
                                   m.architecture.c_str(),
                                   m.name.c_str(),
                                   m.n_params,
                                   m.n_ctx_train,
                                   m.n_vocab,
                                   m.n_embd,
                                   m.n_layer,
                                   m.has_chat_template ? 1 : 0};
    bantam_model_info& out = require(info, "info");
    if (out.struct_size < sizeof(size_t)) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "info: struct_size is not set");
    const size_t size = std::min(out.struct_size, sizeof(bantam_model_info));
    std::memcpy(static_cast<void*>(&out), &filled, size);
    out.struct_size = size;
  });
}

int32_t bantam_model_n_vocab(const bantam_model* model) {
  int32_t n = 0;
  const auto status = guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] { n = require(model, "model").model->info().n_vocab; });
  return count_or_status(status, n);
}

int32_t bantam_tokenize(const bantam_model* model, const char* text, int32_t add_special, int32_t* ids,
                        int32_t capacity) {
  int32_t n = 0;
  const auto status = guarded(BANTAM_ERROR_GENERATION, [&] {
    const auto tokens = require(model, "model").model->tokenize(require_text(text, "text"), add_special != 0, true);
    n = copy_out<int32_t>(tokens, ids, capacity);
  });
  return count_or_status(status, n);
}

char* bantam_detokenize(const bantam_model* model, const int32_t* ids, int32_t n_ids) {
  char* out = nullptr;
  guarded(BANTAM_ERROR_GENERATION, [&] {
    if (n_ids < 0 || (n_ids > 0 && !ids)) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "ids: NULL or a negative count");
    const bantam::Model& m = *require(model, "model").model;
    for (int32_t i = 0; i < n_ids; ++i) {
      if (ids[i] < 0 || ids[i] >= m.info().n_vocab) {
        throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("token id {} outside the vocabulary", ids[i]));
      }
    }
    out = malloc_string(m.detokenize(std::span(ids, static_cast<size_t>(n_ids))));
  });
  return out;
}

char* bantam_chat_render(const bantam_model* model, const bantam_chat_message* messages, int32_t n_messages,
                         const char* tools_json, const char* template_source) {
  char* out = nullptr;
  guarded(BANTAM_ERROR_TEMPLATE, [&] {
    const bantam::Model& m = *require(model, "model").model;
    out = malloc_string(m.chat_prompt(chat_messages(messages, n_messages), chat_options(tools_json, template_source)));
  });
  return out;
}

int32_t bantam_chat_tokenize(const bantam_model* model, const bantam_chat_message* messages, int32_t n_messages,
                             const char* tools_json, const char* template_source, int32_t* ids, int32_t capacity) {
  int32_t n = 0;
  const auto status = guarded(BANTAM_ERROR_TEMPLATE, [&] {
    const bantam::Model& m = *require(model, "model").model;
    const auto tokens = m.chat_tokens(chat_messages(messages, n_messages), chat_options(tools_json, template_source));
    n = copy_out<int32_t>(tokens, ids, capacity);
  });
  return count_or_status(status, n);
}

int32_t bantam_embed(const bantam_model* model, const char* text, int32_t threads, float* out, int32_t capacity) {
  int32_t n = 0;
  const auto status = guarded(BANTAM_ERROR_GENERATION, [&] {
    const auto& m = require(model, "model").model;
    const auto tokens = m->tokenize(require_text(text, "text"), true, false);
    if (tokens.empty()) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "bantam_embed: the text has no tokens");
    n = copy_out<float>(bantam::embed(m, tokens, threads), out, capacity);
  });
  return count_or_status(status, n);
}

bantam_adapter* bantam_adapter_load(const bantam_model* model, const char* path) {
  bantam_adapter* result = nullptr;
  guarded(BANTAM_ERROR_LOAD, [&] {
    const bantam::Model& m = *require(model, "model").model;
    result = new bantam_adapter{bantam::Adapter::load(require_text(path, "path"), m)};
  });
  return result;
}

void bantam_adapter_free(bantam_adapter* adapter) { delete adapter; }

}  // extern "C"
