// ferry_chaos_dag — a deterministic DAG workload over large objects for chaos
// tests and the fault-tolerance benchmark (run it under ferry-run
// --keep-going; any rank but the driver may be killed at any time).
//
//   ferry_chaos_dag [--blocks N] [--block-mib M] [--rounds R] [--task-ms T] [--seed S]
//
// Round 0 makes N blocks of M MiB (gen tasks); round r > 0 makes each block
// from the previous round's block (step tasks: a lineage chain of depth R),
// and every round reduces its blocks pairwise in a fixed tree (combine tasks)
// to one block whose digest (a task) is folded into the checksum. Every task
// is unpinned (the scheduler places it; a task lost with its rank is retried,
// a lost block is re-made from lineage). T ms of sleep per task stretch the
// run so that a kill lands while work is in flight.
//
// Output (the scripts parse it): "chaos: checksum <16 hex digits>" and
// "chaos: elapsed <ms> ms". With FERRY_CHAOS_PIDDIR set, every rank writes its
// pid to <dir>/rank.<r> at start, and the driver creates <dir>/started when the
// workload (and its elapsed time) starts, after every rank's ferry::init (for the
// killer). The result is a pure function of N, M, R and S: a run with a kill must
// print the checksum of the fault-free run.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"

namespace {

using Block = std::vector<std::uint64_t>;

std::uint32_t g_task_ms = 0;  // set on every rank from the same argv before ferry::run

void pause_task() {
  if (g_task_ms) std::this_thread::sleep_for(std::chrono::milliseconds(g_task_ms));
}

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Block gen(std::uint64_t seed, std::uint32_t index, std::uint64_t words) {
  Block b(words);
  const std::uint64_t base = mix64(seed * 0x9E3779B97F4A7C15ULL + index);
  for (std::uint64_t i = 0; i < words; ++i) b[i] = mix64(base + i);
  pause_task();
  return b;
}

Block step(const Block& prev, std::uint32_t round) {
  Block b(prev.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = mix64(prev[i] ^ (std::uint64_t{round} << 40 | i));
  pause_task();
  return b;
}

// Not commutative: the tree's shape is part of the result.
Block combine(const Block& a, const Block& b) {
  Block c(a.size());
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = a[i] * 31 + ((b[i] << 7) | (b[i] >> 57));
  pause_task();
  return c;
}

std::uint64_t digest(const Block& b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the words
  for (std::uint64_t w : b) h = (h ^ w) * 0x100000001b3ULL;
  return h;
}

inline const auto gen_fn = ferry::function<&gen>("chaos.gen");
inline const auto step_fn = ferry::function<&step>("chaos.step");
inline const auto combine_fn = ferry::function<&combine>("chaos.combine");
inline const auto digest_fn = ferry::function<&digest>("chaos.digest");

struct Params {
  std::uint32_t blocks = 8;
  std::uint64_t block_mib = 16;
  std::uint32_t rounds = 3;
  std::uint64_t seed = 1;
};

ferry::ObjectRef<Block> reduce(std::vector<ferry::ObjectRef<Block>> level) {
  while (level.size() > 1) {
    std::vector<ferry::ObjectRef<Block>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(combine_fn.remote(level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front();
}

// Writes `text` to <FERRY_CHAOS_PIDDIR>/<name> (whole, by rename: the killer never reads half a
// file); nothing without the variable.
void publish(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("FERRY_CHAOS_PIDDIR");
  if (!dir || !*dir) return;
  const std::string path = std::string(dir) + "/" + name;
  { std::ofstream(path + ".tmp") << text << "\n"; }
  std::rename((path + ".tmp").c_str(), path.c_str());
}

// The workload starts: <FERRY_CHAOS_PIDDIR>/started tells the killer (see the top).
void mark_started() { publish("started", "started"); }

int drive(const Params& p) {
  const auto t0 = std::chrono::steady_clock::now();
  mark_started();
  const std::uint64_t words = (p.block_mib << 20) / sizeof(std::uint64_t);
  std::vector<ferry::ObjectRef<Block>> blocks;
  for (std::uint32_t i = 0; i < p.blocks; ++i) blocks.push_back(gen_fn.remote(p.seed, i, words));
  std::vector<ferry::ObjectRef<std::uint64_t>> digests;
  for (std::uint32_t r = 0; r < p.rounds; ++r) {
    if (r > 0)
      for (auto& b : blocks) b = step_fn.remote(b, r);
    digests.push_back(digest_fn.remote(reduce(blocks)));
  }
  std::uint64_t sum = 0;
  for (auto& d : digests) sum = mix64(sum ^ d.get(std::chrono::minutes(10)));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("chaos: checksum %016llx\n", static_cast<unsigned long long>(sum));
  std::printf("chaos: elapsed %lld ms\n", static_cast<long long>(ms));
  std::fflush(stdout);
  return 0;
}

bool parse(int argc, char** argv, Params& p) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto num = [&](std::uint64_t& out) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      out = std::strtoull(argv[++i], &end, 10);
      return *end == '\0';
    };
    std::uint64_t v = 0;
    if (a == "--blocks" && num(v) && v >= 1 && v <= 4096) p.blocks = static_cast<std::uint32_t>(v);
    else if (a == "--block-mib" && num(v) && v >= 1 && v <= 4096) p.block_mib = v;
    else if (a == "--rounds" && num(v) && v >= 1 && v <= 1000) p.rounds = static_cast<std::uint32_t>(v);
    else if (a == "--task-ms" && num(v) && v <= 60000) g_task_ms = static_cast<std::uint32_t>(v);
    else if (a == "--seed" && num(v)) p.seed = v;
    else {
      std::fprintf(stderr, "usage: ferry_chaos_dag [--blocks N] [--block-mib M] [--rounds R] [--task-ms T] [--seed S]\n"
                           "(bad or unknown argument '%s')\n", a.c_str());
      return false;
    }
  }
  return true;
}

// ferry-run is single-host: its FERRY_LOCAL_RANK is the rank.
void write_pid() {
  if (const char* rank = std::getenv("FERRY_LOCAL_RANK")) publish(std::string("rank.") + rank, std::to_string(::getpid()));
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  if (!parse(argc, argv, p)) return 2;
  write_pid();
  return ferry::run(argc, argv, [&] { return drive(p); });
}
