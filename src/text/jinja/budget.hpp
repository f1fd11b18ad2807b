// The memory and step budgets of one render. Chat templates come from model files and run on
// every request, so what a template may allocate and how long it may run are bounded, and every
// built-in that allocates or loops checks the budget before it does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace bantam::jinja {

// Going past one of these is an Error naming the budget.
struct Limits {
  // Bytes of the strings, lists and dicts a render builds, its output included, live at once
  // (values given to the template are not counted).
  size_t max_memory_bytes = size_t{16} << 20;
  // Evaluation steps, plus one per 16 bytes or items copied: about half a second of work.
  uint64_t max_steps = 4'000'000;
  int max_depth = 250;  // nested evaluation, macro calls included
};

// What the memory budget counts for a string of `bytes` and for `items` list items or dict
// entries: the payload and the bookkeeping around it, so a million empty strings are not free.
size_t string_cost(size_t bytes);
size_t list_cost(size_t items);
size_t dict_cost(size_t entries);

class Budget {
 public:
  explicit Budget(const Limits& limits);

  // Error naming `what` unless `bytes` more fit in the memory budget now.
  void require(size_t bytes, std::string_view what) const;
  // require, then counts `bytes` as live until release.
  void allocate(size_t bytes, std::string_view what);
  void release(size_t bytes);
  size_t bytes_left() const;
  size_t peak_bytes() const;  // the most that was live at once

  // Counts `steps` evaluation steps; Error past the step budget.
  void step(uint64_t steps);
  uint64_t steps() const { return steps_; }

  // The counts themselves: a value counted with allocate may outlive the Budget object (values
  // are shared), so it releases into the account it was counted in.
  struct Account;
  std::shared_ptr<Account> account() const { return account_; }

 private:
  std::shared_ptr<Account> account_;
  uint64_t steps_ = 0;
  uint64_t max_steps_;
};

struct Budget::Account {
  size_t limit;
  size_t live = 0;
  size_t peak = 0;
  void release(size_t bytes) { live -= bytes < live ? bytes : live; }
};

// The budget of the render running on this thread: values, serializers and iteration, which do
// not see the renderer, charge it through here. Null outside a render, where nothing is counted.
Budget* current_budget();

// Makes `budget` the thread's current one for its lifetime.
class BudgetScope {
 public:
  explicit BudgetScope(Budget& budget);
  ~BudgetScope();
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

 private:
  Budget* previous_;
};

// The current budget's require and step; nothing outside a render. charge_copy counts one step
// per 16 bytes or items copied or compared.
void require_memory(size_t bytes, std::string_view what);
void charge_steps(uint64_t steps);
void charge_copy(size_t bytes_or_items);

}  // namespace bantam::jinja
