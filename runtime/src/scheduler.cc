// scheduler.cc — placement policy and the submitter's load board (see scheduler.h).
#include "scheduler.h"

#include <algorithm>
#include <map>

namespace ferry::rt {

Rank place_task(Rank self, std::span<const RankLoad> loads, std::span<const ArgBytes> args,
                std::uint64_t locality_bytes, std::uint64_t rotor) {
  const Rank n = static_cast<Rank>(loads.size());
  if (n == 0) return self;
  // 1. Locality.
  std::map<Rank, std::uint64_t> bytes;
  for (const ArgBytes& a : args)
    if (a.rank < n && loads[a.rank].alive) bytes[a.rank] += a.bytes;
  Rank best = transport::kInvalidRank;
  std::uint64_t most = 0;
  for (const auto& [r, b] : bytes)
    if (b > most) {
      most = b;
      best = r;
    }
  if (best != transport::kInvalidRank && most >= locality_bytes) return best;
  // 2. Least loaded (load / threads, compared as fractions), round robin on ties.
  best = transport::kInvalidRank;
  std::uint64_t best_load = 0, best_threads = 1;
  for (Rank k = 0; k < n; ++k) {
    const Rank r = static_cast<Rank>((rotor + k) % n);
    const RankLoad& l = loads[r];
    if (!l.alive) continue;
    const std::uint64_t load = std::max(l.outstanding, l.reported);
    const std::uint64_t threads = std::max<std::uint32_t>(l.threads, 1);
    if (best == transport::kInvalidRank || load * best_threads < best_load * threads) {
      best = r;
      best_load = load;
      best_threads = threads;
    }
  }
  return best == transport::kInvalidRank ? self : best;
}

LoadBoard::LoadBoard(Rank size) : slots_(new Slot[size]), size_(size) {}

void LoadBoard::reported(Rank r, std::uint32_t queue_length) {
  slots_[r].reported.store(queue_length, std::memory_order_relaxed);
  slots_[r].reported_at.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void LoadBoard::snapshot(std::vector<RankLoad>& out, std::chrono::milliseconds stale_after) const {
  out.resize(size_);
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto limit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(stale_after).count();
  for (Rank r = 0; r < size_; ++r) {
    const Slot& s = slots_[r];
    RankLoad& l = out[r];
    l.alive = s.alive.load(std::memory_order_relaxed);
    l.threads = s.threads.load(std::memory_order_relaxed);
    l.outstanding = s.outstanding.load(std::memory_order_relaxed);
    const auto at = s.reported_at.load(std::memory_order_relaxed);
    l.reported = now.count() - at <= limit ? s.reported.load(std::memory_order_relaxed) : 0;
  }
}

}  // namespace ferry::rt
