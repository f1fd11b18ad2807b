#include "text/jinja/budget.hpp"

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "text/jinja/value.hpp"

namespace bantam::jinja {
namespace {

thread_local Budget* current = nullptr;

// A heap block's own bookkeeping plus a shared pointer's control block, roughly.
constexpr size_t kBlockOverhead = 48;

size_t times(size_t count, size_t size) {
  return count > SIZE_MAX / size ? SIZE_MAX : count * size;
}

size_t plus(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

}  // namespace

size_t string_cost(size_t bytes) { return plus(bytes, sizeof(std::string) + kBlockOverhead); }
size_t list_cost(size_t items) { return plus(times(items, sizeof(Value)), kBlockOverhead); }
size_t dict_cost(size_t entries) {
  return plus(times(entries, sizeof(Dict::Entry)), kBlockOverhead);
}

Budget::Budget(const Limits& limits)
    : account_(std::make_shared<Account>(Account{limits.max_memory_bytes})),
      max_steps_(limits.max_steps) {}

void Budget::require(size_t bytes, std::string_view what) const {
  if (bytes > bytes_left()) {
    throw Error(fmt::format(
        "template memory budget exceeded: {} needs {} bytes, {} of the {} allowed are left",
        what, bytes, bytes_left(), account_->limit));
  }
}

void Budget::allocate(size_t bytes, std::string_view what) {
  require(bytes, what);
  account_->live += bytes;
  account_->peak = std::max(account_->peak, account_->live);
}

void Budget::release(size_t bytes) { account_->release(bytes); }
size_t Budget::bytes_left() const { return account_->limit - account_->live; }
size_t Budget::peak_bytes() const { return account_->peak; }

void Budget::step(uint64_t steps) {
  steps_ = steps > UINT64_MAX - steps_ ? UINT64_MAX : steps_ + steps;
  if (steps_ > max_steps_) {
    throw Error(fmt::format("template step budget exceeded: more than {} steps (an endless loop?)",
                            max_steps_));
  }
}

Budget* current_budget() { return current; }

BudgetScope::BudgetScope(Budget& budget) : previous_(current) { current = &budget; }
BudgetScope::~BudgetScope() { current = previous_; }

void require_memory(size_t bytes, std::string_view what) {
  if (current) current->require(bytes, what);
}

void charge_steps(uint64_t steps) {
  if (current) current->step(steps);
}

void charge_copy(size_t bytes_or_items) { charge_steps(bytes_or_items / 16); }

}  // namespace bantam::jinja
