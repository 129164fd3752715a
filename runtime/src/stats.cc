// stats.cc — ferry::stats(): the metrics counters (metrics.h) plus the
// running core's gauges, and their Prometheus text form.
//
// Thread-safety: any thread (reads atomics; Core::stats holds a GateGuard).
#include "ferry/stats.h"

#include <cinttypes>
#include <cstdio>

#include "core.h"
#include "current.h"
#include "metrics.h"
#include "observe.h"

namespace ferry {

Stats stats() {
  using rt::metrics::C;
  const auto c = rt::metrics::snapshot();
  auto at = [&](C k) { return c[static_cast<std::size_t>(k)]; };
  auto diff = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  Stats s;
  s.tasks_submitted = at(C::tasks_submitted);
  s.tasks_finished = at(C::tasks_finished);
  s.tasks_failed = at(C::tasks_failed);
  s.tasks_retried = at(C::tasks_retried);
  s.tasks_executed = at(C::tasks_ended);
  s.tasks_running = diff(at(C::tasks_started), at(C::tasks_ended));
  s.puts = at(C::puts);
  s.put_bytes = at(C::put_bytes);
  s.gets = at(C::gets);
  s.get_bytes = at(C::get_bytes);
  s.remote_reads = at(C::remote_reads);
  s.remote_read_bytes = at(C::remote_read_bytes);
  s.spills = at(C::spills);
  s.spilled_bytes_total = at(C::spilled_bytes);
  s.restores = at(C::restores);
  s.restored_bytes_total = at(C::restored_bytes);
  s.spilled_bytes = diff(at(C::spilled_bytes), at(C::restored_bytes) + at(C::spill_freed_bytes));
  s.peers_failed = at(C::peers_failed);
  rt::Core* core = rt::current_core();
  if (!core) return s;
  const RuntimeStats r = core->stats();
  s.running = !core->gate().closed();
  s.rank = core->rank();
  s.size = core->size();
  s.uptime_seconds = rt::observe::uptime_seconds();
  s.tasks_in_flight = r.tasks_pending;
  s.objects_owned = r.owned;
  s.objects_borrowed = r.borrowed;
  s.objects_cached = r.copies;
  s.owned_bytes = r.owned_bytes;
  s.cached_bytes = r.cached_bytes;
  s.store_objects = r.store_objects;
  s.store_used_bytes = r.store_used;
  s.store_capacity_bytes = r.store_capacity;
  s.store_high_water_bytes = r.store_high_water;
  s.store_prefault_pending_bytes = r.store_prefault_pending;
  return s;
}

namespace {

struct Line {
  const char* name;  // without the ferry_ prefix
  const char* type;  // counter | gauge
  const char* help;
};

void emit(std::string& out, const Line& l, const std::string& labels, double v) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "# HELP ferry_%s %s\n# TYPE ferry_%s %s\nferry_%s%s %.17g\n", l.name, l.help, l.name,
                l.type, l.name, labels.c_str(), v);
  out += buf;
}

}  // namespace

std::string Stats::prometheus() const {
  const std::string labels = "{rank=\"" + std::to_string(rank) + "\"}";
  std::string out;
  out.reserve(6000);
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    emit(out, Line{name, "counter", help}, labels, static_cast<double>(v));
  };
  auto gauge = [&](const char* name, const char* help, double v) { emit(out, Line{name, "gauge", help}, labels, v); };
  gauge("up", "1 while a ferry runtime is running in this process", running ? 1 : 0);
  gauge("ranks", "ranks in this job", size);
  gauge("uptime_seconds", "seconds since this rank's runtime started", uptime_seconds);
  counter("tasks_submitted_total", "tasks this rank submitted", tasks_submitted);
  counter("tasks_finished_total", "tasks this rank submitted that completed with a value", tasks_finished);
  counter("tasks_failed_total", "tasks this rank submitted that completed with an error", tasks_failed);
  counter("tasks_retried_total", "tasks this rank re-submitted after a failure", tasks_retried);
  gauge("tasks_in_flight", "tasks this rank submitted that have not completed", static_cast<double>(tasks_in_flight));
  gauge("tasks_running", "tasks executing on this rank now", static_cast<double>(tasks_running));
  counter("tasks_executed_total", "tasks (and actor calls) executed on this rank", tasks_executed);
  counter("puts_total", "objects put by this rank", puts);
  counter("put_bytes_total", "payload bytes put by this rank", put_bytes);
  counter("gets_total", "object reads by get()/view() on this rank", gets);
  counter("get_bytes_total", "payload bytes read by get()/view() on this rank", get_bytes);
  counter("remote_reads_total", "objects read from other ranks into this rank", remote_reads);
  counter("remote_read_bytes_total", "payload bytes read from other ranks into this rank", remote_read_bytes);
  gauge("objects_owned", "objects this rank owns", static_cast<double>(objects_owned));
  gauge("objects_borrowed", "other ranks' objects referenced on this rank", static_cast<double>(objects_borrowed));
  gauge("objects_cached", "other ranks' objects cached in this rank's store", static_cast<double>(objects_cached));
  gauge("owned_bytes", "payload bytes of this rank's own objects in its store", static_cast<double>(owned_bytes));
  gauge("cached_bytes", "payload bytes of other ranks' objects in this rank's store", static_cast<double>(cached_bytes));
  gauge("store_objects", "blocks in this rank's object store", static_cast<double>(store_objects));
  gauge("store_used_bytes", "object store bytes in use", static_cast<double>(store_used_bytes));
  gauge("store_capacity_bytes", "object store size", static_cast<double>(store_capacity_bytes));
  gauge("store_high_water_bytes", "largest object store use so far", static_cast<double>(store_high_water_bytes));
  gauge("store_prefault_pending_bytes", "object store bytes the background prefaulter has yet to fault in",
        static_cast<double>(store_prefault_pending_bytes));
  counter("spills_total", "objects spilled to disk", spills);
  counter("spilled_bytes_total", "bytes spilled to disk", spilled_bytes_total);
  counter("restores_total", "spilled objects read back into the store", restores);
  counter("restored_bytes_total", "bytes read back from disk", restored_bytes_total);
  gauge("spilled_bytes", "bytes of spilled objects on disk now", static_cast<double>(spilled_bytes));
  counter("peers_failed_total", "peer ranks this rank saw fail", peers_failed);
  return out;
}

std::string Stats::describe() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "tasks submitted %" PRIu64 " (finished %" PRIu64 ", failed %" PRIu64 ", in flight %" PRIu64
                "), executed %" PRIu64 ", gets %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64
                " remote bytes), store high water %" PRIu64 " of %" PRIu64 " bytes",
                tasks_submitted, tasks_finished, tasks_failed, tasks_in_flight, tasks_executed, gets, get_bytes,
                remote_read_bytes, store_high_water_bytes, store_capacity_bytes);
  return buf;
}

}  // namespace ferry
