// ferry-valsort — validates a sort's output files.
//
//   ferry-run -n 4 ferry-valsort --output DIR [--input DIR] [--records N]
//
// Reads every regular file of --output (in name order; a task per file on rank i % ranks) and
// checks: each file's records are in key order, the last key of each non-empty file <= the first
// key of the next one, and — with --input — the record count and checksum (sum of per-record
// CRC-32s) equal the input files'; with --records, the count equals N. Rank 0 prints one line
// ending in "ok", or "error: ..." and exits 1. Exit 2: bad usage.
#include <algorithm>
#include <cstdio>
#include <string>

#include "args.h"
#include "ferry/ferry.h"
#include "records.h"

namespace {

using namespace sortrec;

Summary summarize_file(const std::string& path) {
  const std::uint64_t size = file_size(path);
  if (size % kRecord)
    throw std::runtime_error(path + ": " + std::to_string(size) + " bytes is not a whole number of records");
  constexpr std::uint64_t kBatch = (8u << 20) / kRecord * kRecord;
  std::vector<std::byte> buf(kBatch);
  Summary s;
  for (std::uint64_t off = 0; off < size; off += kBatch) {
    const std::size_t n = static_cast<std::size_t>(std::min(kBatch, size - off));
    read_range(path, off, buf.data(), n);
    append(s, summarize(std::span<const std::byte>(buf.data(), n)));
  }
  return s;
}
inline const auto summarize_fn = ferry::function<&summarize_file>("ferry.valsort.file");

std::vector<Summary> summarize_dir(const std::string& dir, std::uint32_t ranks, std::vector<std::string>& files) {
  files = list_files(dir);
  std::vector<ferry::ObjectRef<Summary>> refs;
  for (std::size_t i = 0; i < files.size(); ++i)
    refs.push_back(summarize_fn.on(ferry::rank{static_cast<std::uint32_t>(i % ranks)}).remote(files[i]));
  return ferry::get(refs);
}

// Empty when valid, else what is wrong.
std::string validate(const Args& a, std::uint32_t ranks) {
  std::vector<std::string> files;
  std::vector<Summary> outs = summarize_dir(a.required("--output"), ranks, files);
  if (files.empty()) return "no output files in " + a.str("--output");
  Summary all;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].unordered) return files[i] + ": " + std::to_string(outs[i].unordered) + " records out of order";
    const std::uint64_t before = all.unordered;
    append(all, outs[i]);
    if (all.unordered != before) return files[i] + " starts with a key below the previous file's last key";
  }
  std::string what = std::to_string(all.records) + " records in " + std::to_string(files.size()) +
                     " file(s) in order";
  if (std::string in = a.str("--input"); !in.empty()) {
    std::vector<std::string> in_files;
    Summary input;
    for (const auto& s : summarize_dir(in, ranks, in_files)) input.records += s.records, input.checksum += s.checksum;
    if (input.records != all.records)
      return "output has " + std::to_string(all.records) + " records, input " + std::to_string(input.records);
    if (input.checksum != all.checksum) return "output checksum differs from the input's (records changed)";
    what += ", count and checksum equal the input's";
  }
  if (a.str("--records").size() && a.num("--records", 0) != all.records)
    return "output has " + std::to_string(all.records) + " records, expected " + a.str("--records");
  char sum[32];
  std::snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(all.checksum));
  std::printf("ferry-valsort: %s, checksum %s ok\n", what.c_str(), sum);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (args.flag("--help") || args.str("--output").empty()) {
    std::fprintf(stderr, "usage: ferry-valsort --output DIR [--input DIR] [--records N]\n");
    return 2;
  }
  // Driver mode: rank 0 drives, the other ranks serve its tasks until it returns; a driver that
  // fails ends every rank (ferry/driver.h).
  return ferry::run(argc, argv, [&args] {
    try {
      if (std::string why = validate(args, ferry::world_size()); !why.empty()) {
        std::fprintf(stderr, "ferry-valsort: error: %s\n", why.c_str());
        return 1;
      }
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ferry-valsort: error: %s\n", e.what());
      return 1;
    }
  });
}
