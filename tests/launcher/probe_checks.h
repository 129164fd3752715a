// probe_checks.h — the collective exercise shared by ferry_launcher_probe and
// ferry_launcher_mpi_probe: several allgathers of different sizes (including all-empty
// and some-empty rounds) and a barrier, every received byte checked.
//
// Exit-code convention of the probes: 0 = every check passed, 1 = a check or the bootstrap
// failed (a message on stderr names the rank and what differed).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "ferry/launcher/bootstrap.h"

namespace ferry::probe {

using transport::Bytes;
using transport::Rank;

// Blob length of `rank` in `round` (round 1 is empty for everyone, rank 0 is empty in round 2).
inline std::size_t blob_size(Rank rank, int round) {
  switch (round % 4) {
    case 0: return 4;
    case 1: return 0;
    case 2: return static_cast<std::size_t>(rank % 3) * 1000;
    default: return rank == 0 ? 100000 : 1;
  }
}

inline std::byte blob_byte(Rank rank, int round, std::size_t i) {
  return std::byte((rank * 31u + static_cast<unsigned>(round) * 7u + i) & 0xffu);
}

inline Bytes make_blob(Rank rank, int round) {
  Bytes b(blob_size(rank, round));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = blob_byte(rank, round, i);
  if (round % 4 == 0) {  // round 0 mod 4 carries the rank itself, little endian
    for (int k = 0; k < 4; ++k) b[k] = std::byte((rank >> (8 * k)) & 0xffu);
  }
  return b;
}

// Returns "" if all rounds verified, else a description of the first mismatch.
inline std::string exercise(transport::Bootstrap& bs, int rounds) {
  const Rank me = bs.rank(), n = bs.size();
  for (int round = 0; round < rounds; ++round) {
    auto all = bs.allgather(make_blob(me, round));
    if (!all) return "allgather round " + std::to_string(round) + ": " + all.status().to_string();
    if (all->size() != n)
      return "allgather round " + std::to_string(round) + " returned " + std::to_string(all->size()) + " blobs";
    for (Rank r = 0; r < n; ++r)
      if ((*all)[r] != make_blob(r, round))
        return "allgather round " + std::to_string(round) + ": the blob of rank " + std::to_string(r) +
               " differs (got " + std::to_string((*all)[r].size()) + " bytes, expected " +
               std::to_string(blob_size(r, round)) + ")";
  }
  if (auto s = bs.barrier(); !s) return "barrier: " + s.to_string();
  return "";
}

}  // namespace ferry::probe
