// matmul — tiled matrix multiply C = A * B as a DAG of tile tasks with ref arguments (SPMD).
//
//   ferry-run -n 2 ferry_matmul [--n N] [--tile T]     (N a multiple of T; also mpirun, one rank)
//
// Each rank multiplies its own pair of N x N matrices (seeded by the rank): it puts the
// (N/T)^2 tiles of A and of B, then for every C tile (i, j) submits nt `tile_mul(A_ik, B_kj)`
// tasks and a chain of `tile_add` tasks summing them, every argument a ref (tiles are
// std::vector<double>, stored raw). Tasks are spread over all ranks. The result is compared
// element by element with a plain local triple loop; entries are small integers, so the
// comparison is exact. The default tile (96 x 96 doubles = 72 KiB) is above FERRY_INLINE_BYTES,
// so tile arguments travel by one-sided get. Prints "rank R/S: ... ok" per rank; exits 1 on any difference.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init.h"

namespace {

using Tile = std::vector<double>;  // row-major t x t

Tile tile_mul(const Tile& a, const Tile& b, std::uint32_t t) {
  if (a.size() != std::size_t{t} * t || b.size() != a.size()) throw std::invalid_argument("tile_mul: tile size");
  Tile c(a.size(), 0.0);
  for (std::uint32_t i = 0; i < t; ++i)
    for (std::uint32_t k = 0; k < t; ++k) {
      const double aik = a[i * t + k];
      for (std::uint32_t j = 0; j < t; ++j) c[i * t + j] += aik * b[k * t + j];
    }
  return c;
}

Tile tile_add(const Tile& a, const Tile& b) {
  if (a.size() != b.size()) throw std::invalid_argument("tile_add: tile sizes differ");
  Tile c(a);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] += b[i];
  return c;
}

inline const auto tile_mul_fn = ferry::function<&tile_mul>("matmul.tile_mul");
inline const auto tile_add_fn = ferry::function<&tile_add>("matmul.tile_add");

struct Matrix {
  std::uint32_t n;
  std::vector<double> v;  // row-major
  double& at(std::uint32_t i, std::uint32_t j) { return v[std::size_t{i} * n + j]; }
  double at(std::uint32_t i, std::uint32_t j) const { return v[std::size_t{i} * n + j]; }
};

Matrix random_matrix(std::uint32_t n, std::uint64_t seed) {
  Matrix m{n, std::vector<double>(std::size_t{n} * n)};
  for (auto& x : m.v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<double>((seed >> 33) % 7) - 3.0;  // small integers: exact in double
  }
  return m;
}

Tile tile_of(const Matrix& m, std::uint32_t ti, std::uint32_t tj, std::uint32_t t) {
  Tile out(std::size_t{t} * t);
  for (std::uint32_t i = 0; i < t; ++i)
    for (std::uint32_t j = 0; j < t; ++j) out[i * t + j] = m.at(ti * t + i, tj * t + j);
  return out;
}

void run(ferry::Session& s, int argc, char** argv) {
  const auto n = static_cast<std::uint32_t>(example::int_arg(argc, argv, "--n", 192));
  const auto t = static_cast<std::uint32_t>(example::int_arg(argc, argv, "--tile", 96));
  if (n % t) example::fail("--n must be a multiple of --tile");
  const std::uint32_t nt = n / t;
  const unsigned me = s.rank(), size = s.size();
  const Matrix a = random_matrix(n, 1 + me), b = random_matrix(n, 1000 + me);

  std::vector<ferry::ObjectRef<Tile>> at, bt;  // tiles, index ti * nt + tj
  for (std::uint32_t ti = 0; ti < nt; ++ti)
    for (std::uint32_t tj = 0; tj < nt; ++tj) {
      at.push_back(ferry::put(tile_of(a, ti, tj, t)));
      bt.push_back(ferry::put(tile_of(b, ti, tj, t)));
    }
  std::vector<ferry::ObjectRef<Tile>> keep;  // intermediate tiles, alive until the end
  std::vector<ferry::ObjectRef<Tile>> ct;
  std::uint32_t next = me;
  auto place = [&] { return ferry::rank{next++ % size}; };
  for (std::uint32_t i = 0; i < nt; ++i)
    for (std::uint32_t j = 0; j < nt; ++j) {
      ferry::ObjectRef<Tile> acc = tile_mul_fn.on(place()).remote(at[i * nt], bt[j], t);
      for (std::uint32_t k = 1; k < nt; ++k) {
        auto prod = tile_mul_fn.on(place()).remote(at[i * nt + k], bt[k * nt + j], t);
        keep.push_back(acc);
        keep.push_back(prod);
        acc = tile_add_fn.on(place()).remote(acc, prod);
      }
      ct.push_back(acc);
    }

  // The reference: a plain local multiply.
  Matrix c{n, std::vector<double>(std::size_t{n} * n, 0.0)};
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t k = 0; k < n; ++k)
      for (std::uint32_t j = 0; j < n; ++j) c.at(i, j) += a.at(i, k) * b.at(k, j);

  std::vector<Tile> tiles = ferry::get(ct);
  for (std::uint32_t ti = 0; ti < nt; ++ti)
    for (std::uint32_t tj = 0; tj < nt; ++tj)
      for (std::uint32_t i = 0; i < t; ++i)
        for (std::uint32_t j = 0; j < t; ++j)
          if (tiles[ti * nt + tj][i * t + j] != c.at(ti * t + i, tj * t + j))
            example::fail("C(" + std::to_string(ti * t + i) + "," + std::to_string(tj * t + j) + ") = " +
                          std::to_string(tiles[ti * nt + tj][i * t + j]) + ", expected " +
                          std::to_string(c.at(ti * t + i, tj * t + j)));

  s.shutdown();
  std::printf("rank %u/%u: %ux%u matmul as %u tile tasks (tile %u) verified against a local multiply ok\n", me,
              size, n, n, nt * nt * (2 * nt - 1), t);
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);  // throws ferry::Error with the reason if ferry cannot start
  return example::guarded("matmul", s, [&] { run(s, argc, argv); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "matmul: %s\n", e.what());
  return 1;
}
