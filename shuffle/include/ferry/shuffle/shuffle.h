// ferry/shuffle/shuffle.h — a push-based map -> merge -> reduce shuffle on ferry tasks and objects.
//
//   const bool reg = ferry::shuffle::register_stages("wordcount", {my_map, my_merge, my_reduce});
//   ...
//   ferry::shuffle::Job job{.stages = "wordcount", .args = spec, .maps = 64, .partitions = 8};
//   ferry::shuffle::Outcome out = ferry::shuffle::run(job);   // on ONE rank (the driver)
//
// The application supplies three stages (registered by name at static initialisation, the same
// on every rank — all ranks run the same binary):
//   map(ctx)             -> one buffer cut into `partitions` consecutive blocks (Partitioned),
//                           block p holding what goes to partition p; or the `partitions` blocks
//                           already stored (Partitioned::stored)
//   merge(ctx, blocks)   -> one block: partition ctx.index's blocks from one round of maps combined
//                           (Output: bytes, or a block already stored)
//   reduce(ctx, merged)  -> a small result block: consumes partition ctx.index's merged blocks
//                           (one per round, in round order), e.g. writes them to a file
// `args` is an opaque byte string handed to every stage (input list, split points, paths ...).
// Blocks are raw byte vectors stored as ferry objects (large ones read one-sided). A stage that
// returns bytes has them copied into the object store; one that writes its blocks in place with
// ferry::put_in_place<std::byte> (sizes known before the bytes are made) saves that copy and the
// intermediate buffer's memory.
//
// Execution (Exoshuffle's push-based shuffle): maps run in rounds of `maps_per_round`. A map
// task on rank map_rank(m) stores its blocks in its own object store (that rank owns them and
// keeps them until the driver releases the round) and returns their refs. As soon as a round's
// maps are done the driver submits one merge task per partition, on reduce_rank(p), while the
// next round's maps already run; a merge reads its blocks (one-sided for large ones), and keeps
// its merged block in the reducer's store. At most `rounds_in_flight` rounds of map outputs are
// held at once: the driver waits for the oldest round's merges before it lets a further round
// start, then releases that round's map blocks. Finally one reduce task per partition runs on
// reduce_rank(p) over the merged blocks it holds, and the merged blocks are freed.
// Store footprint per rank: about rounds_in_flight rounds of map output (blocks and the merges'
// cached copies of them) plus the merged blocks of its partitions (the whole data set spread over
// the reducers) — unless Job::spill_dir sends the merged blocks to files.
//
// Every cross-rank ref is either held by its owner's keeper until the driver releases it, or a
// task output held by the driver: nothing depends on borrower accounting. Tasks never wait for
// other tasks (a merge reads blocks that are already stored), so nothing can deadlock.
//
// Errors: a stage that throws, a full store (store_full, with the FERRY_STORE_BYTES remedy) or
// a dead rank make run() throw ferry::Error / ferry::task_error naming the stage, the rank and
// the cause; the job's stored blocks are released (best effort) before it throws.
//
// Thread-safety: run() may be called from one thread per job; stages run on executor threads
// concurrently (several maps, merges and reduces at once) and must be thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/object_ref.h"

namespace ferry::shuffle {

using Block = std::vector<std::byte>;
using BlockView = std::span<const std::byte>;

// What a stage is told about its task.
struct Context {
  std::string_view args;        // Job::args
  std::uint32_t index = 0;      // map index (map) or partition (merge, reduce)
  std::uint32_t round = 0;      // map round (map, merge); number of rounds (reduce)
  std::uint32_t maps = 0;       // Job::maps
  std::uint32_t partitions = 0; // Job::partitions
};

// A map's output: block p is data[offsets[p], offsets[p + 1]); offsets has partitions + 1
// entries, non-decreasing, offsets.front() == 0 and offsets.back() == data.size().
// Or, with `stored` non-empty (then data and offsets are ignored): stored[p] is block p, put in
// this rank's object store by the map (ferry::put_in_place or ferry::put); one per partition.
struct Partitioned {
  Block data;
  std::vector<std::size_t> offsets;
  std::vector<ObjectRef<Block>> stored;
};

// A merge's output: bytes (the library stores them), or a block the merge already put in this
// rank's object store (`stored` not nil; `bytes` is then ignored).
struct Output {
  Output(Block b) : bytes(std::move(b)) {}                // NOLINT: a stage may return a Block
  Output(ObjectRef<Block> r) : stored(std::move(r)) {}    // NOLINT: or a stored block
  Block bytes;
  ObjectRef<Block> stored;
};

struct Stages {
  std::function<Partitioned(const Context&)> map;
  std::function<Output(const Context&, std::span<const BlockView>)> merge;
  std::function<Block(const Context&, std::span<const BlockView>)> reduce;
};

// Registers `stages` under `name` (call at static initialisation on every rank, e.g. through an
// inline const bool). A duplicate name throws std::logic_error. Returns true.
bool register_stages(std::string name, Stages stages);

struct Job {
  std::string stages;                 // a name given to register_stages
  std::string args;                   // opaque, handed to every stage
  std::uint32_t maps = 0;             // number of map tasks (>= 1)
  std::uint32_t partitions = 0;       // number of partitions = merge/reduce tasks per round (>= 1)
  std::uint32_t maps_per_round = 0;   // 0: one map per rank per round (ranks x 1)
  std::uint32_t rounds_in_flight = 2; // rounds of map outputs held at once (>= 1)
  std::function<std::uint32_t(std::uint32_t map)> map_rank;         // default: map % ranks
  std::function<std::uint32_t(std::uint32_t partition)> reduce_rank; // default: partition % ranks
  // Non-empty: merged blocks are written to files in this directory (on the reducer's file
  // system; created if missing) instead of the object store, and read back through mmap by the
  // reduce, which deletes them. The store then holds only the rounds in flight: out-of-core.
  std::string spill_dir;
};

struct Outcome {
  std::vector<Block> results;  // reduce's result per partition
  std::uint32_t rounds = 0;
  double map_merge_seconds = 0;  // first map submitted -> last merge done
  double reduce_seconds = 0;     // reduces
};

// Runs `job` with this rank as the driver; returns when every reduce finished. The other ranks
// only need to keep their runtime up (e.g. wait in Session::barrier()). Throws on any error.
Outcome run(const Job& job);

}  // namespace ferry::shuffle
