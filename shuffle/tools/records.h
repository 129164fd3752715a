// records.h — 100-byte sort records (GraySort layout: 10-byte key, 90-byte value) and the
// helpers ferry-sort, ferry-gensort, ferry-valsort and the MPI baseline share.
//
// Record i of a data set made with seed S (gensort's binary layout):
//   [0,10)   key: 10 bytes from a hash of (S, i); with skew, the first 8 bytes follow u^4 for a
//            uniform u (most keys crowd the low end of the key space)
//   [10,12)  0x00 0x11
//   [12,44)  i as 32 upper-case hex digits
//   [44,48)  0x88 0x99 0xAA 0xBB
//   [48,96)  filler: 48 hex digits derived from i
//   [96,100) 0xCC 0xDD 0xEE 0xFF
// Records compare by their key bytes (memcmp). The checksum of a set of records is the sum of
// their CRC-32s (zlib) modulo 2^64: independent of order, so input and output compare.
//
// Thread-safety: pure functions, except the file helpers' I/O.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace sortrec {

inline constexpr std::size_t kRecord = 100;
inline constexpr std::size_t kKey = 10;

inline std::uint64_t prefix(const std::byte* r) {
  std::uint64_t v;
  std::memcpy(&v, r, 8);
  return __builtin_bswap64(v);
}
inline std::uint16_t key_tail(const std::byte* r) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(r[8]) << 8) | std::to_integer<unsigned>(r[9]));
}
inline bool key_less(const std::byte* a, const std::byte* b) { return std::memcmp(a, b, kKey) < 0; }

void make_record(std::uint64_t seed, std::uint64_t index, bool skew, std::byte* out);
std::uint64_t record_crc(const std::byte* r);

// Count, checksum, order and first/last key of consecutive records.
struct Summary {
  std::uint64_t records = 0;
  std::uint64_t checksum = 0;
  std::uint64_t unordered = 0;  // adjacent pairs out of order
  std::array<std::uint8_t, kKey> first{}, last{};
  template <class Archive>
  void serialize(Archive& ar) {
    ar(records, checksum, unordered, first, last);
  }
};
Summary summarize(std::span<const std::byte> records);
// `into` followed by `next`: counts, checksums and order (including the pair at the seam).
void append(Summary& into, const Summary& next);

// Sorts `n` records at `in` into `out` (distinct buffers) by key: sort_keys, then gather.
void sort_records(const std::byte* in, std::size_t n, std::byte* out);
// A record's key (prefix and the last two key bytes) and its index in its buffer.
struct KeyIndex {
  std::uint64_t hi;
  std::uint16_t lo;
  std::uint32_t index;
};
// The keys of the `n` records at `in`, sorted (keys is resized to n; its memory is reused).
void sort_keys(const std::byte* in, std::size_t n, std::vector<KeyIndex>& keys);
// Copies the records `keys` names from `in` to `out`, in the order of `keys`.
void gather(const std::byte* in, std::span<const KeyIndex> keys, std::byte* out);

// k-way merge of sorted runs; calls emit(record) in key order.
template <class Emit>
void merge_runs(std::span<const std::span<const std::byte>> runs, Emit&& emit);

// Files: whole-buffer I/O that throws std::runtime_error naming the path and errno.
std::vector<std::string> list_files(const std::string& dir);  // regular files, sorted by name
std::uint64_t file_size(const std::string& path);
// Appends the key prefix of the record at each byte offset of `path` to `keys`.
void read_keys(const std::string& path, const std::vector<std::uint64_t>& offsets, std::vector<std::uint64_t>& keys);
void read_range(const std::string& path, std::uint64_t offset, std::byte* out, std::size_t bytes);
class Writer {  // buffered sequential writer of a new file
 public:
  explicit Writer(const std::string& path);
  ~Writer();
  void write(const std::byte* p, std::size_t n);
  void close();  // flushes; throws on error
 private:
  void flush();
  std::string path_;
  int fd_ = -1;
  std::vector<std::byte> buf_;
  std::size_t used_ = 0;
};
std::string part_name(const std::string& dir, std::uint32_t index);  // dir/part-00042

// ---- template definitions

struct RunHead {
  std::uint64_t hi;
  std::uint16_t lo;
  std::uint32_t run;
  bool operator>(const RunHead& o) const { return hi != o.hi ? hi > o.hi : lo != o.lo ? lo > o.lo : run > o.run; }
};

template <class Emit>
void merge_runs(std::span<const std::span<const std::byte>> runs, Emit&& emit) {
  std::vector<std::size_t> pos(runs.size(), 0);
  std::vector<RunHead> heap;
  auto push = [&](std::uint32_t r) {
    if (pos[r] < runs[r].size()) {
      const std::byte* rec = runs[r].data() + pos[r];
      heap.push_back({prefix(rec), key_tail(rec), r});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (std::uint32_t r = 0; r < runs.size(); ++r) push(r);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const std::uint32_t r = heap.back().run;
    heap.pop_back();
    emit(runs[r].data() + pos[r]);
    pos[r] += kRecord;
    push(r);
  }
}

}  // namespace sortrec
