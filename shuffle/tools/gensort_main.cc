// ferry-gensort — parallel generator of 100-byte sort records (layout in records.h).
//
//   ferry-run -n 4 ferry-gensort --output DIR --records N [--files F] [--seed S] [--skew]
//
// Writes F files (default: one per rank) DIR/part-NNNNN holding records [f*N/F, (f+1)*N/F);
// file f is written by a task on rank f % ranks. Record i depends only on (seed, i, skew), so a
// data set is the same for any number of ranks or files. Rank 0 prints the record count and
// checksum (sum of per-record CRC-32s, as ferry-valsort computes it). Exit: 0 ok, 1 error, 2 usage.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "args.h"
#include "ferry/ferry.h"
#include "records.h"

namespace {

using namespace sortrec;

Summary gen_file(const std::string& path, std::uint64_t seed, std::uint64_t first, std::uint64_t count, bool skew) {
  Writer out(path);
  constexpr std::uint64_t kBatch = 1u << 16;
  std::vector<std::byte> buf(kBatch * kRecord);
  Summary s;
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t n = std::min(kBatch, count - done);
    for (std::uint64_t i = 0; i < n; ++i) {
      make_record(seed, first + done + i, skew, buf.data() + i * kRecord);
      s.checksum += record_crc(buf.data() + i * kRecord);
    }
    out.write(buf.data(), n * kRecord);
    done += n;
  }
  out.close();
  s.records = count;
  return s;
}
inline const auto gen_fn = ferry::function<&gen_file>("ferry.gensort.file");

void drive(const Args& a, std::uint32_t ranks) {
  const std::string dir = a.required("--output");
  const std::uint64_t records = a.num("--records", 0), files = a.num("--files", ranks), seed = a.num("--seed", 1);
  const bool skew = a.flag("--skew");
  if (files == 0) throw std::invalid_argument("--files must be >= 1");
  std::filesystem::create_directories(dir);
  std::vector<ferry::ObjectRef<Summary>> parts;
  for (std::uint64_t f = 0; f < files; ++f) {
    const std::uint64_t first = records * f / files, last = records * (f + 1) / files;
    parts.push_back(gen_fn.on(ferry::rank{static_cast<std::uint32_t>(f % ranks)})
                        .remote(part_name(dir, static_cast<std::uint32_t>(f)), seed, first, last - first, skew));
  }
  Summary total;
  for (const auto& s : ferry::get(parts)) total.records += s.records, total.checksum += s.checksum;
  std::printf("ferry-gensort: %llu records (%s keys, seed %llu) in %llu file(s) under %s, checksum %016llx ok\n",
              static_cast<unsigned long long>(total.records), skew ? "skewed" : "uniform",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(files), dir.c_str(),
              static_cast<unsigned long long>(total.checksum));
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (args.flag("--help") || args.str("--output").empty() || args.str("--records").empty()) {
    std::fprintf(stderr, "usage: ferry-gensort --output DIR --records N [--files F] [--seed S] [--skew]\n");
    return 2;
  }
  // Driver mode: rank 0 drives, the other ranks serve its tasks until it returns; a driver that
  // fails ends every rank (ferry/driver.h).
  return ferry::run(argc, argv, [&args] {
    try {
      drive(args, ferry::world_size());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ferry-gensort: error: %s\n", e.what());
      return 1;
    }
  });
}
