// lineage.cc — the lineage table (see lineage.h).
//
// Thread-safety: none (the caller's lock).
#include "lineage.h"

namespace ferry::rt {

std::vector<std::shared_ptr<TaskSpec>> Lineage::keep(const ObjectId& id, std::shared_ptr<TaskSpec> spec) {
  std::vector<std::shared_ptr<TaskSpec>> out;
  if (!spec) return out;
  if (auto old = forget(id)) out.push_back(std::move(old));
  evicted_.erase(id);
  bytes_ += spec->cost();
  order_.push_back(id);
  map_.emplace(id, Node{std::move(spec), std::prev(order_.end())});
  while (bytes_ > budget_ && !order_.empty()) {
    const ObjectId victim = order_.front();
    auto it = map_.find(victim);
    bytes_ -= it->second.spec->cost();
    out.push_back(std::move(it->second.spec));
    map_.erase(it);
    order_.pop_front();
    evicted_.insert(victim);
  }
  return out;
}

std::shared_ptr<TaskSpec> Lineage::take(const ObjectId& id) {
  auto it = map_.find(id);
  if (it == map_.end()) return nullptr;
  std::shared_ptr<TaskSpec> s = std::move(it->second.spec);
  bytes_ -= s->cost();
  order_.erase(it->second.age);
  map_.erase(it);
  return s;
}

std::shared_ptr<TaskSpec> Lineage::forget(const ObjectId& id) {
  evicted_.erase(id);
  return take(id);
}

std::vector<std::shared_ptr<TaskSpec>> Lineage::clear() {
  std::vector<std::shared_ptr<TaskSpec>> out;
  for (auto& [id, n] : map_) out.push_back(std::move(n.spec));
  map_.clear();
  order_.clear();
  evicted_.clear();
  bytes_ = 0;
  return out;
}

}  // namespace ferry::rt
