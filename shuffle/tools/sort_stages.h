// sort_stages.h — ferry-sort's shuffle: the job description and its stages ("ferry.sort").
//
// Maps read a chunk of an input file, sort it and cut it at the split points; merges k-way merge
// one round's sorted blocks of a partition; reduces k-way merge a partition's merged blocks
// (one per round) into the output file part-<partition> and return its record count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sortrec {

struct Chunk {
  std::string path;
  std::uint64_t offset = 0;   // bytes
  std::uint64_t records = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(path, offset, records);
  }
};

struct SortSpec {
  std::vector<Chunk> chunks;          // one per map
  std::vector<std::uint64_t> splits;  // partitions - 1 key prefixes: partition p holds [splits[p-1], splits[p])
  std::string output_dir;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(chunks, splits, output_dir);
  }
};

inline constexpr const char* kSortStages = "ferry.sort";

std::string encode_spec(const SortSpec& spec);

// Cuts the files into chunks of at most `chunk_bytes` (whole records). Throws if a file's size
// is not a multiple of the record size.
std::vector<Chunk> make_chunks(const std::vector<std::string>& files, std::uint64_t chunk_bytes);

// Split points for `partitions` from key prefixes sampled on the ranks (`per_chunk` evenly
// spaced records of every chunk, read by tasks on rank chunk % ranks).
std::vector<std::uint64_t> sample_splits(const std::vector<Chunk>& chunks, std::uint32_t partitions,
                                         std::uint32_t per_chunk);

}  // namespace sortrec
