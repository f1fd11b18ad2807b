#include "format/json_input.hpp"
#include "format/input_file.hpp"

#include <fstream>
#include <iterator>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace bantam {
namespace {

// Builds the document from nlohmann's SAX events (as its own DOM parser does), refusing a
// container that would open deeper than the limit, and keeps the path to the value being read so
// that every error can say where it is.
template <class Json>
class BoundedBuilder {
 public:
  using number_integer_t = typename Json::number_integer_t;
  using number_unsigned_t = typename Json::number_unsigned_t;
  using number_float_t = typename Json::number_float_t;
  using string_t = typename Json::string_t;
  using binary_t = typename Json::binary_t;

  BoundedBuilder(Json& root, size_t max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return scalar(Json(nullptr)); }
  bool boolean(bool v) { return scalar(Json(v)); }
  bool number_integer(number_integer_t v) { return scalar(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return scalar(Json(v)); }
  bool number_float(number_float_t v, const string_t&) { return scalar(Json(v)); }
  bool string(string_t& v) { return scalar(Json(std::move(v))); }
  bool binary(binary_t& v) { return scalar(Json::binary(std::move(v))); }
  bool start_object(size_t) { return open(Json::object()); }
  bool start_array(size_t) { return open(Json::array()); }
  bool key(string_t& name) {
    open_.back().key = std::move(name);
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(size_t position, const std::string&, const nlohmann::json::exception& e) {
    // nlohmann's messages start with "[json.exception.parse_error.101] "; keep what follows.
    const std::string what = e.what();
    const size_t bracket = what.find("] ");
    error_ = fmt::format("not valid JSON at byte {}: {}", position,
                         bracket == std::string::npos ? what : what.substr(bracket + 2));
    return false;
  }

  const std::optional<std::string>& error() const { return error_; }

  // Where the value being read sits: "messages[0].content"; long paths keep their first steps.
  std::string path() const {
    constexpr size_t kShownSteps = 8;
    std::string out;
    for (size_t i = 0; i < open_.size() && i < kShownSteps; ++i) {
      const Container& c = open_[i];
      if (c.value->is_array()) {
        // An open child container is already in place; a failing scalar is not yet.
        out += fmt::format("[{}]", i + 1 < open_.size() ? c.value->size() - 1 : c.value->size());
      } else if (!c.key.empty()) {
        out += out.empty() ? c.key : "." + c.key;
      }
    }
    if (open_.size() > kShownSteps) out += "...";
    return out;
  }

 private:
  // ordered_json keeps members in a vector and finds a key by scanning it, so building an object
  // of n members member by member takes n^2/2 comparisons (minutes for a 1 MB object); ordered
  // objects get an index of their keys while they are being built.
  static constexpr bool kOrderedObjects = std::is_same_v<Json, nlohmann::ordered_json>;

  struct Container {
    Json* value;
    string_t key;                                    // objects: the key of the member being read
    std::unordered_map<string_t, size_t> positions;  // ordered objects: where each key is
  };

  bool scalar(Json&& v) {
    add(std::move(v));
    forget_key();
    return true;
  }

  // Between members an object's path step is empty, so errors there do not name the member before.
  void forget_key() {
    if (!open_.empty()) open_.back().key.clear();
  }

  // Places v where the next value goes.
  Json* add(Json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Container& c = open_.back();
    if (c.value->is_array()) {
      c.value->push_back(std::move(v));
      return &c.value->back();
    }
    if constexpr (kOrderedObjects) {
      auto& members = c.value->template get_ref<typename Json::object_t&>();
      // A repeated key keeps its first place and takes the last value, as operator[] would.
      const auto [at, fresh] = c.positions.try_emplace(c.key, members.size());
      if (fresh) members.emplace_back(c.key, std::move(v));
      Json& slot = std::next(members.begin(), static_cast<std::ptrdiff_t>(at->second))->second;
      if (!fresh) slot = std::move(v);
      return &slot;
    } else {
      Json& slot = (*c.value)[c.key];
      slot = std::move(v);
      return &slot;
    }
  }

  bool open(Json&& empty) {
    if (open_.size() >= max_depth_) {
      error_ = fmt::format("JSON nested deeper than {} levels", max_depth_);
      return false;
    }
    // The new container's place is part of the path while it is open; pointers to open containers
    // stay valid because only the innermost one gains members.
    Json* placed = add(std::move(empty));
    open_.push_back({placed, {}, {}});
    return true;
  }

  bool close() {
    open_.pop_back();
    forget_key();
    return true;
  }

  Json& root_;
  size_t max_depth_;
  std::vector<Container> open_;
  std::optional<std::string> error_;
};

}  // namespace

template <class Json>
Json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw JsonInputError(
        fmt::format("{}: {} bytes of JSON, more than the {} allowed", source, text.size(), limits.max_bytes), "");
  }
  Json root;
  BoundedBuilder<Json> builder(root, limits.max_depth);
  if (!Json::sax_parse(text, &builder)) {
    // The path is read before `root` goes: it points into the partial document.
    const std::string path = builder.path();
    const std::string where = path.empty() ? "" : fmt::format(" (at {})", path);
    throw JsonInputError(fmt::format("{}: {}{}", source, builder.error().value_or("not valid JSON"), where), path);
  }
  return root;
}

template <class Json>
Json read_json_file(const std::filesystem::path& path, const JsonLimits& limits) {
  check_input_file(path.string());  // says what is wrong with a directory, device or missing path
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open it", path.string()));
  // Read in pieces and stop past the cap, so an oversized file (or an endless pipe) is never held whole.
  std::string text;
  std::vector<char> piece(64 << 10);
  while (in.read(piece.data(), static_cast<std::streamsize>(piece.size())) || in.gcount() > 0) {
    text.append(piece.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > limits.max_bytes) {
      throw JsonInputError(
          fmt::format("{}: larger than the {} bytes allowed for JSON", path.string(), limits.max_bytes), "");
    }
  }
  if (in.bad()) throw Error(fmt::format("{}: cannot read it", path.string()));
  return parse_json<Json>(text, path.string(), limits);
}

template nlohmann::json parse_json(std::string_view, const std::string&, const JsonLimits&);
template nlohmann::ordered_json parse_json(std::string_view, const std::string&, const JsonLimits&);
template nlohmann::json read_json_file(const std::filesystem::path&, const JsonLimits&);
template nlohmann::ordered_json read_json_file(const std::filesystem::path&, const JsonLimits&);

}  // namespace bantam
