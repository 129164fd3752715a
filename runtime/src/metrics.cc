// metrics.cc — per-thread counter blocks (see metrics.h).
//
// Invariants: every Block ever attached is in g_blocks (never freed; the
// process keeps its counts); a block is written by at most one live thread:
// the one whose tl_block points to it, until that thread exits and returns it
// to g_free.
#include "metrics.h"

#include <mutex>
#include <new>
#include <vector>

namespace ferry::rt::metrics {

thread_local Block* tl_block = nullptr;

namespace {

std::mutex g_mu;
std::vector<Block*>& blocks() {  // guarded by g_mu; never destroyed (threads exit after main)
  static auto* v = new std::vector<Block*>();
  return *v;
}
std::vector<Block*>& free_blocks() {  // guarded by g_mu
  static auto* v = new std::vector<Block*>();
  return *v;
}

// Returns the thread's block when the thread exits.
struct Releaser {
  ~Releaser() {
    if (!tl_block) return;
    std::lock_guard<std::mutex> lock(g_mu);
    free_blocks().push_back(tl_block);
    tl_block = nullptr;
  }
};

}  // namespace

Block* attach_block() {
  thread_local Releaser releaser;  // constructed once per thread, here (off the hot path)
  (void)releaser;
  std::lock_guard<std::mutex> lock(g_mu);
  if (!free_blocks().empty()) {
    tl_block = free_blocks().back();
    free_blocks().pop_back();
  } else {
    tl_block = new Block();
    blocks().push_back(tl_block);
  }
  return tl_block;
}

std::array<std::uint64_t, kCounters> snapshot() noexcept {
  std::array<std::uint64_t, kCounters> out{};
  std::lock_guard<std::mutex> lock(g_mu);
  for (const Block* b : blocks())
    for (std::size_t i = 0; i < kCounters; ++i) out[i] += b->v[i].load(std::memory_order_relaxed);
  return out;
}

}  // namespace ferry::rt::metrics
