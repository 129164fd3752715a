// shuffle.cc — the shuffle's tasks (map, merge, reduce, release) and its driver loop.
//
// Keeper invariant: every block a map stored and every merged block a merge stored is owned by
// the rank that stored it and referenced from that rank's keeper until the driver releases it
// (release after the round's merges finished; reduce takes the merged blocks out). Refs that
// cross ranks are only ever read while their owner's keeper holds them.
#include "ferry/shuffle/shuffle.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include "ferry/ferry.h"

namespace ferry::shuffle {
namespace {

// What every task of a job is given (cereal-serialized value argument).
struct Spec {
  std::uint64_t job = 0;
  std::string stages;
  std::string args;
  std::uint32_t maps = 0;
  std::uint32_t partitions = 0;
  std::string spill_dir;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(job, stages, args, maps, partitions, spill_dir);
  }
};

using BlockRef = ObjectRef<Block>;
using MapOutput = std::vector<BlockRef>;

std::map<std::string, Stages>& stage_table() {
  static std::map<std::string, Stages> table;  // written only at static initialisation
  return table;
}

const Stages& stages_of(const Spec& s) {
  auto it = stage_table().find(s.stages);
  if (it == stage_table().end()) throw std::invalid_argument("shuffle: no stages registered as '" + s.stages + "'");
  return it->second;
}

// A merged block: in the object store, or in a file (Job::spill_dir).
struct Merged {
  BlockRef ref;
  std::string path;
};

// Per process: the blocks this rank stored and still has to keep (see the invariant above).
struct Keeper {
  std::mutex mu;
  std::map<std::pair<std::uint64_t, std::uint32_t>, MapOutput> map_blocks;                 // (job, map)
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::map<std::uint32_t, Merged>> merged;  // (job, partition) -> round
};

[[noreturn]] void file_error(const std::string& what, const std::string& path) {
  throw std::runtime_error("shuffle: " + what + " " + path + ": " + std::strerror(errno));
}

std::string spill_block(const Spec& s, std::uint32_t partition, std::uint32_t round, BlockView b) {
  std::filesystem::create_directories(s.spill_dir);
  const std::string path = s.spill_dir + "/shuffle-" + std::to_string(s.job) + "-" + std::to_string(partition) +
                           "-" + std::to_string(round);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) file_error("cannot create", path);
  for (std::size_t done = 0; done < b.size();) {
    ssize_t n = ::write(fd, b.data() + done, b.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(path.c_str());
      errno = saved;
      file_error("cannot write (disk full?)", path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) file_error("cannot close", path);
  return path;
}

// A spilled block mapped read-only; unmapped and deleted on destruction.
class MappedFile {
 public:
  explicit MappedFile(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) file_error("cannot open", path_);
    struct stat st{};
    if (::fstat(fd, &st) == 0) size_ = static_cast<std::size_t>(st.st_size);
    if (size_) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        file_error("cannot map", path_);
      }
      data_ = static_cast<const std::byte*>(p);
      ::madvise(p, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    ::unlink(path_.c_str());
  }
  BlockView view() const { return {data_, size_}; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

Keeper& keeper() {
  static Keeper k;
  return k;
}

Context context_of(const Spec& s, std::uint32_t index, std::uint32_t round) {
  return Context{s.args, index, round, s.maps, s.partitions};
}

// Views of `refs` (fetched concurrently; every ref is already stored and kept by its owner).
std::vector<ObjectView<Block>> view_all(const std::vector<BlockRef>& refs) {
  for (const auto& r : refs) r.prefetch();
  std::vector<ObjectView<Block>> views;
  views.reserve(refs.size());
  for (const auto& r : refs) views.push_back(r.view());
  return views;
}

std::vector<BlockView> spans_of(const std::vector<ObjectView<Block>>& views) {
  std::vector<BlockView> spans;
  spans.reserve(views.size());
  for (const auto& v : views) spans.push_back(v.bytes());
  return spans;
}

MapOutput map_task(const Spec& s, std::uint32_t map, std::uint32_t round) {
  Partitioned out = stages_of(s).map(context_of(s, map, round));
  MapOutput refs;
  if (!out.stored.empty()) {
    const std::uint32_t self = Runtime::current()->rank();
    bool ok = out.stored.size() == s.partitions;
    for (const auto& r : out.stored) ok = ok && !r.is_nil() && r.owner() == self;
    if (!ok)
      throw std::logic_error("shuffle '" + s.stages + "': map " + std::to_string(map) + " returned " +
                             std::to_string(out.stored.size()) + " stored blocks, expected one per partition (" +
                             std::to_string(s.partitions) + "), each put by the map on its own rank");
    refs = std::move(out.stored);
  } else {
    const auto& off = out.offsets;
    bool ok = off.size() == std::size_t{s.partitions} + 1 && off.front() == 0 && off.back() == out.data.size();
    for (std::size_t p = 0; ok && p + 1 < off.size(); ++p) ok = off[p] <= off[p + 1];
    if (!ok)
      throw std::logic_error("shuffle '" + s.stages + "': map " + std::to_string(map) + " returned " +
                             std::to_string(off.size()) + " offsets not cutting its " +
                             std::to_string(out.data.size()) + " bytes into " + std::to_string(s.partitions) +
                             " partitions");
    refs.reserve(s.partitions);
    for (std::size_t p = 0; p < s.partitions; ++p)
      refs.push_back(ferry::put(BlockView(out.data.data() + off[p], off[p + 1] - off[p])));
  }
  std::lock_guard<std::mutex> lock(keeper().mu);
  keeper().map_blocks[{s.job, map}] = refs;
  return refs;
}

std::uint64_t merge_task(const Spec& s, std::uint32_t partition, std::uint32_t round, const MapOutput& parts) {
  std::optional<Output> merged;
  {
    auto views = view_all(parts);
    auto spans = spans_of(views);
    merged.emplace(stages_of(s).merge(context_of(s, partition, round), spans));
  }
  Merged m;
  std::uint64_t bytes = 0;
  if (!merged->stored.is_nil()) {
    if (merged->stored.owner() != Runtime::current()->rank())
      throw std::logic_error("shuffle '" + s.stages + "': merge of partition " + std::to_string(partition) +
                             " returned a block stored on another rank; put it on the merge's own rank");
    const auto view = merged->stored.view();
    bytes = view.bytes().size();
    if (s.spill_dir.empty()) m.ref = std::move(merged->stored);
    else m.path = spill_block(s, partition, round, view.bytes());
  } else {
    bytes = merged->bytes.size();
    if (s.spill_dir.empty()) m.ref = ferry::put(merged->bytes);
    else m.path = spill_block(s, partition, round, merged->bytes);
  }
  std::lock_guard<std::mutex> lock(keeper().mu);
  keeper().merged[{s.job, partition}][round] = std::move(m);
  return bytes;
}

Block reduce_task(const Spec& s, std::uint32_t partition, std::uint32_t rounds) {
  std::map<std::uint32_t, Merged> runs;
  {
    std::lock_guard<std::mutex> lock(keeper().mu);
    auto it = keeper().merged.find({s.job, partition});
    if (it != keeper().merged.end()) {
      runs = std::move(it->second);
      keeper().merged.erase(it);
    }
  }
  if (runs.size() != rounds)
    throw std::logic_error("shuffle '" + s.stages + "': partition " + std::to_string(partition) + " has " +
                           std::to_string(runs.size()) + " merged blocks on this rank, expected " +
                           std::to_string(rounds) + " (reduce placed away from its merges?)");
  std::vector<BlockRef> refs;
  std::vector<std::unique_ptr<MappedFile>> files;
  for (auto& [round, m] : runs) {  // round order
    if (m.path.empty()) refs.push_back(std::move(m.ref));
    else files.push_back(std::make_unique<MappedFile>(m.path));
  }
  auto views = view_all(refs);
  std::vector<BlockView> spans = spans_of(views);
  for (const auto& f : files) spans.push_back(f->view());
  return stages_of(s).reduce(context_of(s, partition, rounds), spans);
}

std::uint32_t release_task(std::uint64_t job, const std::vector<std::uint32_t>& maps) {
  std::vector<MapOutput> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(keeper().mu);
  for (std::uint32_t m : maps) {
    auto it = keeper().map_blocks.find({job, m});
    if (it == keeper().map_blocks.end()) continue;
    dropped.push_back(std::move(it->second));
    keeper().map_blocks.erase(it);
  }
  return static_cast<std::uint32_t>(dropped.size());
}

// Error path: forget everything of `job` on this rank.
std::uint32_t drop_job_task(std::uint64_t job) {
  std::lock_guard<std::mutex> lock(keeper().mu);
  std::uint32_t n = 0;
  auto drop = [&](auto& table) {
    for (auto it = table.begin(); it != table.end();)
      if (it->first.first == job) it = table.erase(it), ++n;
      else ++it;
  };
  drop(keeper().map_blocks);
  for (auto& [key, rounds] : keeper().merged)
    if (key.first == job)
      for (auto& [round, m] : rounds)
        if (!m.path.empty()) ::unlink(m.path.c_str());
  drop(keeper().merged);
  return n;
}

inline const auto map_fn = ferry::function<&map_task>("ferry.shuffle.map");
inline const auto merge_fn = ferry::function<&merge_task>("ferry.shuffle.merge");
inline const auto reduce_fn = ferry::function<&reduce_task>("ferry.shuffle.reduce");
inline const auto release_fn = ferry::function<&release_task>("ferry.shuffle.release");
inline const auto drop_job_fn = ferry::function<&drop_job_task>("ferry.shuffle.drop_job");

// One round of maps: submitted, then merged, then released.
struct Round {
  std::uint32_t round = 0;
  std::vector<std::uint32_t> maps;
  std::vector<ObjectRef<MapOutput>> outputs;
  std::vector<ObjectRef<std::uint64_t>> merges;
};

class Driver {
 public:
  explicit Driver(const Job& job, std::uint64_t id) : job_(job), size_(Runtime::current()->size()) {
    spec_ = Spec{id, job.stages, job.args, job.maps, job.partitions, job.spill_dir};
    per_round_ = job.maps_per_round ? job.maps_per_round : size_;
    rounds_ = (job.maps + per_round_ - 1) / per_round_;
  }

  Outcome run() {
    Outcome out;
    out.rounds = rounds_;
    auto t0 = std::chrono::steady_clock::now();
    for (std::uint32_t k = 0; k < rounds_; ++k) {
      while (mapped_.size() + merging_.size() >= job_.rounds_in_flight) {
        if (!merging_.empty()) finish_oldest();
        else start_merges();
      }
      submit_maps(k);
      while (mapped_.size() > 1) start_merges();
    }
    while (!mapped_.empty()) start_merges();
    while (!merging_.empty()) finish_oldest();
    auto t1 = std::chrono::steady_clock::now();
    std::vector<ObjectRef<Block>> reduces;
    for (std::uint32_t p = 0; p < job_.partitions; ++p)
      reduces.push_back(reduce_fn.on(rank{reduce_rank(p)}).remote(spec_, p, rounds_));
    out.results = ferry::get(reduces);
    (void)ferry::get(releases_);
    out.map_merge_seconds = std::chrono::duration<double>(t1 - t0).count();
    out.reduce_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    return out;
  }

  // Best effort after a failure: every live rank forgets the job's blocks.
  void drop_everywhere() noexcept {
    std::vector<ObjectRef<std::uint32_t>> drops;
    try {
      for (std::uint32_t r = 0; r < size_; ++r) drops.push_back(drop_job_fn.on(rank{r}).remote(spec_.job));
    } catch (...) {
    }
    for (auto& d : drops) try {
        (void)d.get(std::chrono::seconds(30));
      } catch (...) {
      }
  }

 private:
  std::uint32_t map_rank(std::uint32_t m) const { return checked(job_.map_rank ? job_.map_rank(m) : m % size_, "map_rank"); }
  std::uint32_t reduce_rank(std::uint32_t p) const {
    return checked(job_.reduce_rank ? job_.reduce_rank(p) : p % size_, "reduce_rank");
  }
  std::uint32_t checked(std::uint32_t r, const char* what) const {
    if (r >= size_) throw Error(Status(Errc::invalid_argument, std::string("shuffle: ") + what + " gave rank " +
                                                                   std::to_string(r) + " of " + std::to_string(size_)));
    return r;
  }

  void submit_maps(std::uint32_t k) {
    Round r;
    r.round = k;
    for (std::uint32_t m = k * per_round_; m < std::min(job_.maps, (k + 1) * per_round_); ++m) {
      r.maps.push_back(m);
      r.outputs.push_back(map_fn.on(rank{map_rank(m)}).remote(spec_, m, k));
    }
    mapped_.push_back(std::move(r));
  }

  // Waits for the oldest mapped round's maps (small outputs: refs) and submits its merges.
  void start_merges() {
    Round r = std::move(mapped_.front());
    mapped_.pop_front();
    std::vector<MapOutput> outs = ferry::get(r.outputs);
    for (std::uint32_t p = 0; p < job_.partitions; ++p) {
      MapOutput parts;
      parts.reserve(outs.size());
      for (auto& o : outs) parts.push_back(o[p]);
      r.merges.push_back(merge_fn.on(rank{reduce_rank(p)}).remote(spec_, p, r.round, parts));
    }
    merging_.push_back(std::move(r));
  }

  // Waits for the oldest merging round and releases its map blocks on their ranks.
  void finish_oldest() {
    Round r = std::move(merging_.front());
    merging_.pop_front();
    (void)ferry::get(r.merges);
    std::map<std::uint32_t, std::vector<std::uint32_t>> by_rank;
    for (std::uint32_t m : r.maps) by_rank[map_rank(m)].push_back(m);
    for (auto& [where, maps] : by_rank) releases_.push_back(release_fn.on(rank{where}).remote(spec_.job, maps));
  }

  const Job& job_;
  std::uint32_t size_;
  Spec spec_;
  std::uint32_t per_round_ = 1, rounds_ = 0;
  std::deque<Round> mapped_, merging_;
  std::vector<ObjectRef<std::uint32_t>> releases_;
};

void check_job(const Job& job) {
  auto bad = [](const std::string& what) { throw Error(Status(Errc::invalid_argument, "shuffle: " + what)); };
  if (!Runtime::current()) throw Error(Status(Errc::shut_down, "shuffle::run: no ferry runtime (call ferry::init first)"));
  if (!stage_table().count(job.stages)) bad("no stages registered as '" + job.stages + "'");
  if (job.maps == 0 || job.partitions == 0) bad("a job needs at least one map and one partition");
  if (job.rounds_in_flight == 0) bad("rounds_in_flight must be at least 1");
}

}  // namespace

bool register_stages(std::string name, Stages stages) {
  if (!stages.map || !stages.merge || !stages.reduce)
    throw std::logic_error("shuffle::register_stages('" + name + "'): map, merge and reduce are all required");
  if (!stage_table().emplace(name, std::move(stages)).second)
    throw std::logic_error("shuffle::register_stages: '" + name + "' is registered twice");
  return true;
}

Outcome run(const Job& job) {
  check_job(job);
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t id = (std::uint64_t{Runtime::current()->rank()} << 40) | counter.fetch_add(1);
  Driver d(job, id);
  try {
    return d.run();
  } catch (...) {
    d.drop_everywhere();
    throw;
  }
}

}  // namespace ferry::shuffle
