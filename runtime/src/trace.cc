// trace.cc — per-thread event chunks and the per-rank Chrome Trace Event JSON
// writer (see trace.h).
//
// Invariants: a ThreadBuf is owned by one thread, which alone appends to its
// current chunk; `n` of a chunk is published with release after the event is
// stored, so the writer reads events [0, n) of any chunk without a lock.
// ThreadBufs are never freed (the process keeps their names); a thread that
// exits leaves its events in its chunk. A chunk is in exactly one place: a
// thread's `cur`, g_full (handed back full; the thread no longer touches it),
// being spilled by the helper, or g_ready (n == 0). Lists are guarded by g_mu.
#include "trace.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry::rt::trace {

std::atomic<bool> g_on{false};

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {

constexpr std::size_t kChunkEvents = 4096;

struct Chunk {
  std::atomic<std::size_t> n{0};
  std::uint32_t tid = 0;  // the thread that fills it
  // Events [0, n) are stored before they are read; the rest is never read, so a chunk made
  // with `new Chunk` is not zeroed (zeroing 224 KiB per chunk cost more than the events in it).
  alignas(Event) unsigned char raw[sizeof(Event) * kChunkEvents];
  Event* ev() noexcept { return reinterpret_cast<Event*>(raw); }
  const Event* ev() const noexcept { return reinterpret_cast<const Event*>(raw); }
  // Faults the chunk's pages in: one store per page.
  void prefault() noexcept {
    for (std::size_t i = 0; i < sizeof raw; i += 4096) raw[i] = 0;
    raw[sizeof raw - 1] = 0;
  }
};

struct ThreadBuf {
  std::uint32_t tid = 0;
  std::string name;
  std::uint64_t generation = 0;  // the trace this buffer belongs to
  Chunk* cur = nullptr;          // owned by the thread; published in g_threads
};

// Chunks are recycled: a full chunk goes to the helper thread, which appends
// its events to a binary spill file and returns it to the free list. The
// first touch of fresh memory costs far more than the events that fill it (a
// page fault per 73 events), so recording threads only ever see chunks the
// helper made (and faulted in) ahead, kReadyChunks of them.
constexpr std::size_t kReadyChunks = 32;

std::mutex g_mu;
std::condition_variable g_cv;                     // wakes the helper
std::vector<ThreadBuf*> g_threads;                // guarded by g_mu
std::vector<std::unique_ptr<Chunk>> g_chunks;     // guarded by g_mu: every chunk of this trace
std::vector<Chunk*> g_ready;                      // guarded by g_mu: empty, faulted in, not handed out
std::vector<Chunk*> g_full;                       // guarded by g_mu: handed back full, to be spilled
std::atomic<std::size_t> g_ready_n{0};            // g_ready.size()
bool g_helper_stop = false;                       // guarded by g_mu
std::thread g_helper;                             // begin() / write_and_stop() only
std::FILE* g_spill = nullptr;                     // the helper's (and write_and_stop's after it stopped)
std::string g_spill_path;
std::atomic<std::uint64_t> g_chunk_budget{0};     // chunks that may still be allocated
std::atomic<std::uint64_t> g_dropped{0};
std::atomic<std::uint64_t> g_generation{0};
std::string g_dir;                                // written by begin() only
std::uint32_t g_rank = 0, g_size = 1;
std::uint64_t g_tick0 = 0, g_ns0 = 0;             // calibration at begin()
std::uint64_t g_sync_ns = 0;                      // start_sync()
std::uint64_t g_wall_ns = 0;                      // CLOCK_REALTIME at begin()

thread_local ThreadBuf* tl_buf = nullptr;

// A chunk for a recording thread: a ready one (the helper made it), else a new
// one; null once FERRY_TRACE_MAX_MB worth of chunks were handed out.
Chunk* new_chunk_locked() {
  if (g_chunk_budget.load() == 0) return nullptr;
  g_chunk_budget.fetch_sub(1);
  g_cv.notify_one();
  if (!g_ready.empty()) {
    Chunk* c = g_ready.back();
    g_ready.pop_back();
    g_ready_n.store(g_ready.size());
    return c;
  }
  g_chunks.push_back(std::unique_ptr<Chunk>(new Chunk));  // the helper fell behind
  return g_chunks.back().get();
}

// Appends a full chunk's events to the spill file: u32 tid, u32 count, count raw Events.
void spill(const Chunk& c) {
  if (!g_spill) return;
  const std::uint32_t head[2] = {c.tid, static_cast<std::uint32_t>(c.n.load(std::memory_order_acquire))};
  (void)std::fwrite(head, sizeof head, 1, g_spill);
  (void)std::fwrite(c.ev(), sizeof(Event), head[1], g_spill);
}

void helper() {
  (void)::pthread_setname_np(::pthread_self(), "ferry-trace");
  std::unique_lock<std::mutex> lock(g_mu);
  for (;;) {
    while (!g_full.empty()) {
      std::vector<Chunk*> full;
      full.swap(g_full);
      lock.unlock();
      for (Chunk* c : full) {
        spill(*c);
        c->n.store(0, std::memory_order_relaxed);
      }
      lock.lock();
      g_ready.insert(g_ready.end(), full.begin(), full.end());
      g_ready_n.store(g_ready.size());
    }
    if (g_helper_stop) return;
    while (g_ready.size() < kReadyChunks) {
      lock.unlock();
      std::unique_ptr<Chunk> c(new Chunk);
      c->prefault();  // its pages are faulted in here, not by a recording thread
      lock.lock();
      g_ready.push_back(c.get());
      g_ready_n.store(g_ready.size());
      g_chunks.push_back(std::move(c));
    }
    // Every change the helper acts on (a full chunk, a ready one taken, stop) is made under g_mu
    // and notifies g_cv: no timed wake-ups while nothing happens.
    g_cv.wait(lock, [] { return !g_full.empty() || g_helper_stop || g_ready.size() < kReadyChunks; });
  }
}

// Spills what is full and stops the helper.
void stop_helper() {
  if (!g_helper.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_helper_stop = true;
  }
  g_cv.notify_one();
  g_helper.join();
}

// Cold path: first event of a thread in this trace, or its chunk is full.
[[gnu::noinline]] Chunk* refill(ThreadBuf*& tb) {
  std::lock_guard<std::mutex> lock(g_mu);
  const std::uint64_t gen = g_generation.load();
  if (!tb) {
    tb = new ThreadBuf;
    tb->tid = static_cast<std::uint32_t>(g_threads.size() + 1);
    char name[32] = {};
    if (::pthread_getname_np(::pthread_self(), name, sizeof name) == 0 && name[0]) tb->name = name;
    else tb->name = "thread";
    g_threads.push_back(tb);
  }
  if (tb->generation != gen) {
    tb->generation = gen;
    tb->cur = nullptr;  // its chunks were released by begin()
  }
  if (tb->cur) {  // full: to the helper
    g_full.push_back(tb->cur);
    g_cv.notify_one();
  }
  tb->cur = new_chunk_locked();
  if (tb->cur) tb->cur->tid = tb->tid;
  return tb->cur;
}

std::uint64_t ticks_to_ns(std::uint64_t t, double ns_per_tick) {
  const double d = (static_cast<double>(t) - static_cast<double>(g_tick0)) * ns_per_tick;
  return g_ns0 + static_cast<std::uint64_t>(static_cast<std::int64_t>(d));
}

std::string read_first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

void record(const Event& e) noexcept {
  ThreadBuf* tb = tl_buf;
  Chunk* c = tb && tb->generation == g_generation.load(std::memory_order_relaxed) ? tb->cur : nullptr;
  std::size_t n = c ? c->n.load(std::memory_order_relaxed) : kChunkEvents;
  if (n == kChunkEvents) {
    if (tb && g_chunk_budget.load(std::memory_order_relaxed) == 0) {  // full: no lock per dropped event
      g_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    try {
      c = refill(tl_buf);
    } catch (...) {
      c = nullptr;
    }
    if (!c) {
      g_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    n = 0;
  }
  c->ev()[n] = e;
  c->n.store(n + 1, std::memory_order_release);
}

std::string rank_file(const std::string& dir, std::uint32_t rank) {
  return dir + "/ferry-trace.rank" + std::to_string(rank) + ".json";
}

Status begin(std::uint32_t rank, std::uint32_t size) {
  const char* dir = std::getenv("FERRY_TRACE");
  if (!dir || !*dir) return Status::ok();
  std::uint64_t max_mb = 512;
  if (const char* v = std::getenv("FERRY_TRACE_MAX_MB"); v && *v) {
    char* end = nullptr;
    errno = 0;
    max_mb = std::strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || v[0] == '-' || max_mb == 0)
      return Status(Errc::invalid_argument, std::string("FERRY_TRACE_MAX_MB='") + v +
                                                "' is not a positive number of MiB (trace memory per rank)");
  }
  if (::mkdir(dir, 0777) != 0 && errno != EEXIST)
    return Status(Errc::invalid_argument, std::string("FERRY_TRACE='") + dir +
                                              "': cannot create the trace directory: " + std::strerror(errno));
  stop_helper();
  std::lock_guard<std::mutex> lock(g_mu);
  g_on.store(false);
  g_generation.fetch_add(1);  // threads drop their chunk pointers before the chunks go
  g_chunks.clear();
  g_ready.clear();
  g_full.clear();
  g_ready_n.store(0);
  g_helper_stop = false;
  if (g_spill) std::fclose(g_spill);
  g_spill_path = std::string(dir) + "/.ferry-trace.rank" + std::to_string(rank) + ".spill";
  g_spill = std::fopen(g_spill_path.c_str(), "w+");
  if (!g_spill)
    return Status(Errc::invalid_argument, "FERRY_TRACE: cannot create " + g_spill_path + ": " + std::strerror(errno));
  g_dropped.store(0);
  g_chunk_budget.store(std::max<std::uint64_t>(1, (max_mb << 20) / sizeof(Chunk)));
  g_dir = dir;
  g_rank = rank;
  g_size = size;
  g_sync_ns = 0;
  g_tick0 = now();
  g_ns0 = monotonic_ns();
  g_wall_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  g_on.store(true);
  g_helper = std::thread(helper);
  return Status::ok();
}

void start_sync() noexcept {
  if (on()) g_sync_ns = monotonic_ns();
}

namespace {

void json_string(std::FILE* f, const std::string& s) {
  std::fputc('"', f);
  for (char c : s) {
    if (c == '"' || c == '\\') std::fprintf(f, "\\%c", c);
    else if (static_cast<unsigned char>(c) < 0x20) std::fprintf(f, "\\u%04x", c);
    else std::fputc(c, f);
  }
  std::fputc('"', f);
}

// Flow ids: the object id hashed, its top nibble the flow kind (1 task, 2 object).
std::uint64_t flow_id(const ObjectId& id, std::uint64_t kind) {
  return (static_cast<std::uint64_t>(id.hash()) & 0x0FFFFFFFFFFFFFFFull) | (kind << 60);
}

void write_event(std::FILE* f, const Event& e, std::uint32_t tid, double ns_per_tick, bool& first) {
  const double ts_us = static_cast<double>(ticks_to_ns(e.ts, ns_per_tick)) / 1000.0;
  const double dur_us = static_cast<double>(e.dur) * ns_per_tick / 1000.0;
  // Object flows leave / arrive when the span ends (the object exists, the read has its
  // bytes): 1 ns before its end, so the point is still inside the span it binds to.
  const double end_us = ts_us + (dur_us > 0.001 ? dur_us - 0.001 : 0.0);
  auto sep = [&] {
    std::fputs(first ? "\n" : ",\n", f);
    first = false;
  };
  sep();
  const char* ph = e.ph == Ph::complete ? "X" : e.ph == Ph::async_begin ? "b" : e.ph == Ph::async_end ? "e" : "i";
  std::fprintf(f, "{\"name\":\"%s\",\"cat\":\"ferry\",\"ph\":\"%s\",\"pid\":%u,\"tid\":%u,\"ts\":%.3f", e.name, ph,
               g_rank, tid, ts_us);
  if (e.ph == Ph::complete) std::fprintf(f, ",\"dur\":%.3f", dur_us);
  if (e.ph == Ph::instant) std::fputs(",\"s\":\"t\"", f);
  if (e.ph == Ph::async_begin || e.ph == Ph::async_end)
    std::fprintf(f, ",\"id\":\"0x%" PRIx64 "\"", flow_id(e.obj, 4) ^ e.aux);
  std::fputs(",\"args\":{", f);
  bool any = false;
  if (!e.obj.is_nil()) {
    std::fprintf(f, "\"object\":\"%s\"", e.obj.to_string().c_str());
    any = true;
  }
  if (e.bytes || e.ph == Ph::async_end) std::fprintf(f, "%s\"bytes\":%" PRIu64, any ? "," : "", e.bytes);
  std::fputs("}}", f);
  struct {
    std::uint8_t bit;
    const char* ph;
    std::uint64_t kind;
    const char* name;
    bool at_end;
  } const flows[] = {{kFlowOutTask, "s", 1, "submit", false}, {kFlowInTask, "f", 1, "submit", false},
                     {kFlowOutObj, "s", 2, "object", true}, {kFlowInObj, "f", 2, "object", true}};
  for (const auto& fl : flows) {
    if (!(e.flows & fl.bit)) continue;
    sep();
    std::fprintf(f,
                 "{\"name\":\"%s\",\"cat\":\"flow\",\"ph\":\"%s\",%s\"pid\":%u,\"tid\":%u,\"ts\":%.3f,"
                 "\"id\":\"0x%" PRIx64 "\"}",
                 fl.name, fl.ph, fl.ph[0] == 'f' ? "\"bp\":\"e\"," : "", g_rank, tid, fl.at_end ? end_us : ts_us,
                 flow_id(e.obj, fl.kind));
  }
}

void write_metadata(std::FILE* f, const std::vector<ThreadBuf*>& threads, bool& first) {
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  std::fprintf(f, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"args\":{\"name\":", first ? "\n" : ",\n",
               g_rank);
  json_string(f, "rank " + std::to_string(g_rank) + " (" + host + " pid " + std::to_string(::getpid()) + ")");
  std::fputs("}}", f);
  std::fprintf(f, ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%u,\"args\":{\"sort_index\":%u}}", g_rank,
               g_rank);
  first = false;
  for (const ThreadBuf* tb : threads) {
    std::fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":", g_rank,
                 tb->tid);
    json_string(f, tb->name);
    std::fputs("}}", f);
  }
}

// Converts the spill file (see spill()) back into events.
void write_spilled(std::FILE* f, double ns_per_tick, bool& first) {
  if (!g_spill || std::fflush(g_spill) != 0 || std::fseek(g_spill, 0, SEEK_SET) != 0) return;
  std::vector<Event> buf(kChunkEvents);
  std::uint32_t head[2];
  while (std::fread(head, sizeof head, 1, g_spill) == 1 && head[1] <= kChunkEvents) {
    if (std::fread(buf.data(), sizeof(Event), head[1], g_spill) != head[1]) break;
    for (std::uint32_t i = 0; i < head[1]; ++i) write_event(f, buf[i], head[0], ns_per_tick, first);
  }
}

}  // namespace

Status write_and_stop() {
  if (!on()) return Status::ok();
  g_on.store(false);
  // A record() that saw the flag set finishes within nanoseconds; the chunks
  // are freed below, so let such stragglers land first.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop_helper();
  const std::uint64_t tick1 = now(), ns1 = monotonic_ns();
#if defined(__x86_64__)
  const double ns_per_tick =
      tick1 > g_tick0 ? static_cast<double>(ns1 - g_ns0) / static_cast<double>(tick1 - g_tick0) : 1.0;
#else
  const double ns_per_tick = 1.0;
#endif
  std::lock_guard<std::mutex> lock(g_mu);
  const std::string path = rank_file(g_dir, g_rank), tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f)
    return Status(Errc::internal, "FERRY_TRACE: cannot write " + tmp + ": " + std::strerror(errno));
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  std::fputs("{\"displayTimeUnit\":\"ns\",\"ferry\":{", f);
  std::fprintf(f, "\"rank\":%u,\"size\":%u,\"host\":", g_rank, g_size);
  json_string(f, host);
  std::fputs(",\"boot_id\":", f);
  json_string(f, read_first_line("/proc/sys/kernel/random/boot_id"));
  std::fprintf(f,
               ",\"clock\":\"CLOCK_MONOTONIC\",\"sync_us\":%.3f,\"start_us\":%.3f,\"wall_start_ns\":%" PRIu64
               ",\"dropped_events\":%" PRIu64 "},\n\"traceEvents\":[",
               static_cast<double>(g_sync_ns) / 1000.0, static_cast<double>(g_ns0) / 1000.0, g_wall_ns,
               g_dropped.load());
  bool first = true;
  write_metadata(f, g_threads, first);
  write_spilled(f, ns_per_tick, first);
  for (const auto& c : g_chunks) {  // the threads' current chunks (the rest are spilled and empty)
    const std::size_t n = c->n.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) write_event(f, c->ev()[i], c->tid, ns_per_tick, first);
  }
  std::fputs("\n]}\n", f);
  const bool ok = std::fflush(f) == 0 && !std::ferror(f);
  std::fclose(f);
  g_chunks.clear();
  g_ready.clear();
  g_full.clear();
  g_ready_n.store(0);
  g_generation.fetch_add(1);
  if (g_spill) std::fclose(g_spill);
  g_spill = nullptr;
  (void)std::remove(g_spill_path.c_str());
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status(Errc::internal, "FERRY_TRACE: cannot write " + path + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace ferry::rt::trace
