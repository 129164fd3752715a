// trace.h — the timeline recorder (internal): Chrome Trace Event spans,
// async spans and flows, one JSON file per rank (FERRY_TRACE=DIR).
//
// Cost contract: every event site is `if (trace::on()) ...` — one relaxed
// load of a process-wide flag and a predictable branch when tracing is off.
// When on, an event is one TSC read (two for a span) and a 56-byte store into
// the calling thread's current 4096-event chunk (no lock, no allocation); once
// per chunk the thread swaps it, under a mutex, for an empty one a helper
// thread ("ferry-trace") made ahead, and the helper appends the full one to a
// binary spill file in DIR and recycles it. Memory stays at (threads + 32)
// chunks of 224 KiB; the events kept are bounded by FERRY_TRACE_MAX_MB (default
// 512 per rank): beyond it they are counted as dropped (the file says how
// many). The JSON is written once, at runtime shutdown, off the hot path.
//
// Event kinds (what the spill/retry code and others call):
//   Span s("spill", bytes);             complete event "spill" around a scope
//   complete("restore", t0, bytes)      complete event from t0 = trace::now()
//   instant("retry", id)                an instant event (a retried task)
//   mark("submit", id, 0, kFlowOutTask) a zero-length span (flows bind to it)
// Flows link two events by an object id: a task's submit (flow_out_task) to
// its execution (flow_in_task); an object's creation (put, task output:
// flow_out_obj) to each read of it (get, task argument: flow_in_obj). A flow
// end binds to the enclosing span on that thread (Chrome "bp":"e").
//
// Clock: timestamps are CLOCK_MONOTONIC nanoseconds (via the TSC, calibrated
// at start and at write). start_sync() records the monotonic time at which
// the runtime's start-up allgather returned on this rank; ranks leave it
// together, so `ferry-trace merge` aligns hosts by it (ranks sharing a boot id
// share the clock and are not shifted).
//
// Thread-safety: record from any thread; begin()/write_and_stop() from the
// thread that starts / shuts down the runtime.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry::rt::trace {

using objstore::ObjectId;

extern std::atomic<bool> g_on;

// Built with -DFERRY_NO_TRACE, on() is constant false and every event site compiles to nothing
// (the baseline of bench/trace-overhead.sh: what "tracing off" costs against no tracing at all).
[[nodiscard]] inline bool on() noexcept {
#if defined(FERRY_NO_TRACE)
  return false;
#else
  return g_on.load(std::memory_order_relaxed);
#endif
}

// Raw tick count (TSC on x86-64, else CLOCK_MONOTONIC ns); converted at write.
[[nodiscard]] inline std::uint64_t now() noexcept {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  extern std::uint64_t monotonic_ns() noexcept;
  return monotonic_ns();
#endif
}

enum class Ph : std::uint8_t { complete, async_begin, async_end, instant };

enum Flow : std::uint8_t {
  kNoFlow = 0,
  kFlowOutTask = 1,  // a submit: starts the flow to the task's execution
  kFlowInTask = 2,   // a task execution: ends the flow from its submit
  kFlowOutObj = 4,   // an object was created here (put, task output)
  kFlowInObj = 8,    // an object was read here (get, argument fetch)
};

// One recorded event (56 bytes). `name` must outlive the process's trace
// (string literals, registry names). `obj` is the object / task output id
// (nil: none); `aux` distinguishes async spans of the same object.
struct Event {
  std::uint64_t ts = 0;   // ticks
  std::uint64_t dur = 0;  // ticks (complete events)
  const char* name = "";
  std::uint64_t bytes = 0;
  ObjectId obj;
  std::uint32_t aux = 0;
  Ph ph = Ph::complete;
  std::uint8_t flows = kNoFlow;
};
static_assert(sizeof(Event) <= 56);

void record(const Event& e) noexcept;

// A complete event from `t0` (a now() value) to now.
inline void complete(const char* name, std::uint64_t t0, std::uint64_t bytes = 0, const ObjectId& obj = {},
                     std::uint8_t flows = kNoFlow) noexcept {
  record(Event{t0, now() - t0, name, bytes, obj, 0, Ph::complete, flows});
}
// A zero-length complete event (a point that flows can bind to).
inline void mark(const char* name, const ObjectId& obj = {}, std::uint64_t bytes = 0,
                 std::uint8_t flows = kNoFlow) noexcept {
  record(Event{now(), 0, name, bytes, obj, 0, Ph::complete, flows});
}
inline void instant(const char* name, const ObjectId& obj = {}, std::uint64_t bytes = 0,
                    std::uint8_t flows = kNoFlow) noexcept {
  record(Event{now(), 0, name, bytes, obj, 0, Ph::instant, flows});
}
// Async span (its own track in the viewer): begin and end may be on different threads.
inline void async_begin(const char* name, const ObjectId& obj, std::uint32_t aux) noexcept {
  record(Event{now(), 0, name, 0, obj, aux, Ph::async_begin, kNoFlow});
}
inline void async_end(const char* name, const ObjectId& obj, std::uint32_t aux, std::uint64_t bytes,
                      std::uint8_t flows = kNoFlow) noexcept {
  record(Event{now(), 0, name, bytes, obj, aux, Ph::async_end, flows});
}

// A complete event around a scope (nothing at all when tracing is off).
class Span {
 public:
  explicit Span(const char* name, std::uint64_t bytes = 0, const ObjectId& obj = {},
                std::uint8_t flows = kNoFlow) noexcept
      : on_(on()), name_(name), bytes_(bytes), obj_(obj), flows_(flows), t0_(on_ ? now() : 0) {}
  ~Span() {
    if (on_) complete(name_, t0_, bytes_, obj_, flows_);
  }
  void set_bytes(std::uint64_t b) noexcept { bytes_ = b; }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  bool on_;
  const char* name_;
  std::uint64_t bytes_;
  ObjectId obj_;
  std::uint8_t flows_;
  std::uint64_t t0_;
};

// Starts recording if FERRY_TRACE names a directory (created if missing);
// clears events of an earlier runtime of this process. invalid_argument if
// FERRY_TRACE or FERRY_TRACE_MAX_MB is unusable.
[[nodiscard]] Status begin(std::uint32_t rank, std::uint32_t size);
// The start-up barrier of this rank has just returned (see the file comment).
void start_sync() noexcept;
// Stops recording and writes DIR/ferry-trace.rank<R>.json. No-op if not tracing.
[[nodiscard]] Status write_and_stop();

// The file name of rank `rank` in `dir`.
std::string rank_file(const std::string& dir, std::uint32_t rank);

}  // namespace ferry::rt::trace
