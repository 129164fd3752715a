// actor_counter — a stateful actor called from several ranks and tasks (SPMD).
//
//   ferry-run -n 2 ferry_actor_counter [--calls K]     (also mpirun, srun --mpi=pmix, or one rank)
//
// Each rank creates one Counter actor (start value 100 * rank) on the next rank, then
//   1. calls add(1) K times from main and checks the returned values count up by one each
//      (calls from one caller run in submission order),
//   2. passes the actor handle to one `bump` task per rank (the handle is an argument like any
//      other); each task calls add(1) K times from the rank it runs on and checks its own
//      results increase strictly (other callers interleave),
//   3. after every task finished, reads value() and checks it is start + K * (1 + size).
// A counter that throws (add with a negative delta) must surface as ferry::task_error at get().
// Prints "rank R/S: ... ok" per rank; exits 1 on any wrong result.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init.h"

namespace {

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int add(int delta) {
    if (delta < 0) throw std::invalid_argument("Counter::add: negative delta " + std::to_string(delta));
    return value_ += delta;
  }
  int value() const { return value_; }

 private:
  int value_;  // actor calls run one at a time: no lock needed
};

inline const auto counter_class = ferry::actor_class<Counter, int>("actor_counter.Counter");
inline const auto counter_add = ferry::method<&Counter::add>("actor_counter.Counter::add");
inline const auto counter_value = ferry::method<&Counter::value>("actor_counter.Counter::value");

// Runs as a task on some rank: K calls of add(1) on the actor, results checked; returns K.
int bump(ferry::actor<Counter> counter, int calls) {
  std::vector<ferry::ObjectRef<int>> results;
  for (int i = 0; i < calls; ++i) results.push_back(counter.call(counter_add, 1));
  std::vector<int> values = ferry::get(results);
  for (int i = 1; i < calls; ++i)
    EXAMPLE_CHECK(values[i] > values[i - 1], "calls from one task did not run in submission order");
  return calls;
}
inline const auto bump_fn = ferry::function<&bump>("actor_counter.bump");

void run(ferry::Session& s, int argc, char** argv) {
  const int calls = static_cast<int>(example::int_arg(argc, argv, "--calls", 50));
  const unsigned me = s.rank(), size = s.size();
  const int start = 100 * static_cast<int>(me);
  ferry::actor<Counter> counter = counter_class.on(ferry::rank{(me + 1) % size}).create(start);

  // 1. From main: nothing else calls this counter yet, so the values are exact.
  std::vector<ferry::ObjectRef<int>> mine;
  for (int i = 0; i < calls; ++i) mine.push_back(counter.call(counter_add, 1));
  std::vector<int> values = ferry::get(mine);
  for (int i = 0; i < calls; ++i)
    EXAMPLE_CHECK(values[i] == start + i + 1, "call " + std::to_string(i) + " from main returned a wrong value");

  // 2. From one task per rank, concurrently.
  std::vector<ferry::ObjectRef<int>> tasks;
  for (unsigned r = 0; r < size; ++r) tasks.push_back(bump_fn.on(ferry::rank{r}).remote(counter, calls));
  int from_tasks = 0;
  for (int n : ferry::get(tasks)) from_tasks += n;
  EXAMPLE_CHECK(from_tasks == calls * static_cast<int>(size), "a bump task reported a wrong count");

  // 3. The final value.
  const int final_value = counter.call(counter_value).get();
  EXAMPLE_CHECK(final_value == start + calls * (1 + static_cast<int>(size)),
                "final value " + std::to_string(final_value) + " is wrong");

  // An exception inside a method reaches the caller as task_error; the actor survives it.
  try {
    (void)counter.call(counter_add, -1).get();
    example::fail("a throwing method call did not fail");
  } catch (const ferry::task_error& e) {
    EXAMPLE_CHECK(std::string(e.what()).find("negative delta") != std::string::npos,
                  std::string("task_error lacks the remote message: ") + e.what());
  }
  EXAMPLE_CHECK(counter.call(counter_value).get() == final_value, "the failed call changed the counter");
  counter.kill();

  s.shutdown();
  std::printf("rank %u/%u: counter on rank %u called %d times from main and %u task(s), value %d verified ok\n",
              me, size, (me + 1) % size, calls, size, final_value);
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);  // throws ferry::Error with the reason if ferry cannot start
  return example::guarded("actor_counter", s, [&] { run(s, argc, argv); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "actor_counter: %s\n", e.what());
  return 1;
}
