// sort_stages.cc — ferry-sort's stages, sampling and chunking (see sort_stages.h).
#include "sort_stages.h"

#include <algorithm>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "ferry/ferry.h"
#include "ferry/shuffle/shuffle.h"
#include "records.h"

namespace sortrec {
namespace {

using ferry::shuffle::Block;
using ferry::shuffle::BlockView;
using ferry::shuffle::Context;
using ferry::shuffle::Output;
using ferry::shuffle::Partitioned;

SortSpec decode_spec(std::string_view bytes) {
  std::istringstream in{std::string(bytes)};
  cereal::BinaryInputArchive ar(in);
  SortSpec spec;
  ar(spec);
  return spec;
}

std::size_t records_of(BlockView v) { return v.size() / kRecord; }

// Sorts its chunk and writes one block per partition straight into the object store. The read
// buffer and the keys are kept per executor thread for the process's life: the next map on the
// thread reuses their memory instead of faulting in fresh pages.
Partitioned sort_map(const Context& ctx) {
  const SortSpec spec = decode_spec(ctx.args);
  const Chunk& c = spec.chunks.at(ctx.index);
  const std::size_t bytes = c.records * kRecord;
  thread_local std::vector<std::byte> raw;
  thread_local std::vector<KeyIndex> keys;
  if (raw.size() < bytes) raw.resize(bytes);
  read_range(c.path, c.offset, raw.data(), bytes);
  sort_keys(raw.data(), c.records, keys);
  Partitioned out;
  std::size_t first = 0;
  for (std::size_t p = 0; p <= spec.splits.size(); ++p) {
    std::size_t end = c.records;
    if (p < spec.splits.size())  // first key >= the split: partition p ends there
      end = static_cast<std::size_t>(
          std::partition_point(keys.begin() + static_cast<std::ptrdiff_t>(first), keys.end(),
                               [split = spec.splits[p]](const KeyIndex& k) { return k.hi < split; }) -
          keys.begin());
    const std::span<const KeyIndex> part(keys.data() + first, end - first);
    out.stored.push_back(ferry::put_in_place<std::byte>(part.size() * kRecord, [&](std::span<std::byte> block) {
      gather(raw.data(), part, block.data());
    }));
    first = end;
  }
  return out;
}

// Merges its blocks straight into a block in the object store.
Output sort_merge(const Context&, std::span<const BlockView> blocks) {
  std::size_t total = 0;
  for (auto b : blocks) total += b.size();
  return ferry::put_in_place<std::byte>(total, [&](std::span<std::byte> out) {
    std::byte* w = out.data();
    if (blocks.size() == 1) {
      if (total) std::memcpy(w, blocks[0].data(), total);
      return;
    }
    merge_runs(blocks, [&](const std::byte* rec) {
      std::memcpy(w, rec, kRecord);
      w += kRecord;
    });
  });
}

Block sort_reduce(const Context& ctx, std::span<const BlockView> runs) {
  const SortSpec spec = decode_spec(ctx.args);
  Writer out(part_name(spec.output_dir, ctx.index));
  std::uint64_t records = 0;
  for (auto r : runs) records += records_of(r);
  if (runs.size() == 1) out.write(runs[0].data(), runs[0].size());
  else merge_runs(runs, [&](const std::byte* rec) { out.write(rec, kRecord); });
  out.close();
  Block result(sizeof records);
  std::memcpy(result.data(), &records, sizeof records);
  return result;
}

[[maybe_unused]] const bool registered =
    ferry::shuffle::register_stages(kSortStages, ferry::shuffle::Stages{sort_map, sort_merge, sort_reduce});

std::vector<std::uint64_t> sample_chunk(const Chunk& c, std::uint32_t count) {
  std::vector<std::uint64_t> keys;
  if (c.records == 0) return keys;
  const std::uint64_t n = std::min<std::uint64_t>(count, c.records);
  std::vector<std::uint64_t> at(n);
  for (std::uint64_t i = 0; i < n; ++i) at[i] = c.offset + (i * c.records / n) * kRecord;
  read_keys(c.path, at, keys);
  return keys;
}
inline const auto sample_fn = ferry::function<&sample_chunk>("ferry.sort.sample");

}  // namespace

std::string encode_spec(const SortSpec& spec) {
  std::ostringstream out;
  {
    cereal::BinaryOutputArchive ar(out);
    ar(spec);
  }
  return out.str();
}

std::vector<Chunk> make_chunks(const std::vector<std::string>& files, std::uint64_t chunk_bytes) {
  const std::uint64_t per = std::max<std::uint64_t>(1, chunk_bytes / kRecord);
  std::vector<Chunk> chunks;
  for (const auto& f : files) {
    const std::uint64_t size = file_size(f);
    if (size % kRecord)
      throw std::runtime_error(f + ": " + std::to_string(size) + " bytes is not a whole number of 100-byte records");
    const std::uint64_t n = size / kRecord;
    for (std::uint64_t first = 0; first < n; first += per)
      chunks.push_back(Chunk{f, first * kRecord, std::min(per, n - first)});
  }
  return chunks;
}

std::vector<std::uint64_t> sample_splits(const std::vector<Chunk>& chunks, std::uint32_t partitions,
                                         std::uint32_t per_chunk) {
  const std::uint32_t ranks = ferry::Runtime::current()->size();
  std::vector<ferry::ObjectRef<std::vector<std::uint64_t>>> refs;
  for (std::size_t i = 0; i < chunks.size(); ++i)
    refs.push_back(sample_fn.on(ferry::rank{static_cast<std::uint32_t>(i % ranks)}).remote(chunks[i], per_chunk));
  std::vector<std::uint64_t> all;
  for (auto& v : ferry::get(refs)) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> splits;
  for (std::uint32_t p = 1; p < partitions; ++p)
    splits.push_back(all.empty() ? (~std::uint64_t{0} / partitions) * p : all[all.size() * p / partitions]);
  return splits;
}

}  // namespace sortrec
