// records.cc — record generation, checksums, sorting and file helpers (see records.h).
#include "records.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <cstring>
#include <utility>

namespace sortrec {
namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void put_be64(std::byte* out, std::uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(out, &v, 8);
}

[[noreturn]] void io_error(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

void make_record(std::uint64_t seed, std::uint64_t index, bool skew, std::byte* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::uint64_t h1 = mix(seed * 0x2545F4914F6CDD1Dull ^ index), h2 = mix(h1 ^ 0x5851F42D4C957F2Dull);
  std::uint64_t hi = h1;
  if (skew) {
    const double u = static_cast<double>(h1 >> 11) * 0x1.0p-53;
    hi = static_cast<std::uint64_t>(std::ldexp(u * u * u * u, 64) * (1.0 - 0x1.0p-52));
  }
  put_be64(out, hi);
  out[8] = static_cast<std::byte>(h2 >> 56);
  out[9] = static_cast<std::byte>(h2 >> 48);
  out[10] = std::byte{0x00};
  out[11] = std::byte{0x11};
  for (int i = 0; i < 32; ++i) {  // the 128-bit record number (high 64 bits are zero)
    const unsigned nibble = i < 16 ? 0 : static_cast<unsigned>(index >> (4 * (31 - i))) & 0xF;
    out[12 + i] = static_cast<std::byte>(kHex[nibble]);
  }
  const std::byte mid[4] = {std::byte{0x88}, std::byte{0x99}, std::byte{0xAA}, std::byte{0xBB}};
  std::memcpy(out + 44, mid, 4);
  for (int i = 0; i < 48; ++i) out[48 + i] = static_cast<std::byte>(kHex[(h2 >> (i % 12 * 4) ^ i) & 0xF]);
  const std::byte tail[4] = {std::byte{0xCC}, std::byte{0xDD}, std::byte{0xEE}, std::byte{0xFF}};
  std::memcpy(out + 96, tail, 4);
}

std::uint64_t record_crc(const std::byte* r) {
  return crc32(0L, reinterpret_cast<const Bytef*>(r), static_cast<uInt>(kRecord));
}

Summary summarize(std::span<const std::byte> records) {
  Summary s;
  s.records = records.size() / kRecord;
  const std::byte* p = records.data();
  for (std::uint64_t i = 0; i < s.records; ++i, p += kRecord) {
    s.checksum += record_crc(p);
    if (i > 0 && key_less(p, p - kRecord)) ++s.unordered;
  }
  if (s.records) {
    std::memcpy(s.first.data(), records.data(), kKey);
    std::memcpy(s.last.data(), records.data() + (s.records - 1) * kRecord, kKey);
  }
  return s;
}

void append(Summary& into, const Summary& next) {
  if (!next.records) return;
  if (into.records && std::memcmp(next.first.data(), into.last.data(), kKey) < 0) ++into.unordered;
  if (!into.records) into.first = next.first;
  into.last = next.last;
  into.records += next.records;
  into.checksum += next.checksum;
  into.unordered += next.unordered;
}

void sort_keys(const std::byte* in, std::size_t n, std::vector<KeyIndex>& keys) {
  keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* r = in + i * kRecord;
    keys[i] = {prefix(r), key_tail(r), static_cast<std::uint32_t>(i)};
  }
  std::sort(keys.begin(), keys.end(),
            [](const KeyIndex& a, const KeyIndex& b) { return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo; });
}

void gather(const std::byte* in, std::span<const KeyIndex> keys, std::byte* out) {
  for (std::size_t i = 0; i < keys.size(); ++i)
    std::memcpy(out + i * kRecord, in + std::size_t{keys[i].index} * kRecord, kRecord);
}

void sort_records(const std::byte* in, std::size_t n, std::byte* out) {
  std::vector<KeyIndex> keys;
  sort_keys(in, n, keys);
  gather(in, keys, out);
}

std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(dir, ec))
    if (ent.is_regular_file()) out.push_back(ent.path().string());
  if (ec) throw std::runtime_error("cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) io_error("cannot stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

void read_range(const std::string& path, std::uint64_t offset, std::byte* out, std::size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_error("cannot open", path);
  std::size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      ::close(fd);
      errno = n == 0 ? EIO : saved;
      io_error("short read from", path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

void read_keys(const std::string& path, const std::vector<std::uint64_t>& offsets, std::vector<std::uint64_t>& keys) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_error("cannot open", path);
  std::byte key[8];
  for (std::uint64_t off : offsets) {
    if (::pread(fd, key, sizeof key, static_cast<off_t>(off)) != static_cast<ssize_t>(sizeof key)) {
      int saved = errno;
      ::close(fd);
      errno = saved ? saved : EIO;
      io_error("short read from", path);
    }
    keys.push_back(prefix(key));
  }
  ::close(fd);
}

Writer::Writer(const std::string& path) : path_(path), buf_(8u << 20) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) io_error("cannot create", path);
}

Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
}

void Writer::write(const std::byte* p, std::size_t n) {
  if (n >= buf_.size()) {  // large: straight through
    flush();
    for (std::size_t done = 0; done < n;) {
      ssize_t w = ::write(fd_, p + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) io_error("cannot write", path_);
      done += static_cast<std::size_t>(w);
    }
    return;
  }
  if (used_ + n > buf_.size()) flush();
  std::memcpy(buf_.data() + used_, p, n);
  used_ += n;
}

void Writer::flush() {
  for (std::size_t done = 0; done < used_;) {
    ssize_t w = ::write(fd_, buf_.data() + done, used_ - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) io_error("cannot write", path_);
    done += static_cast<std::size_t>(w);
  }
  used_ = 0;
}

void Writer::close() {
  flush();
  if (::close(std::exchange(fd_, -1)) != 0) io_error("cannot close", path_);
}

std::string part_name(const std::string& dir, std::uint32_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "/part-%05u", index);
  return dir + name;
}

}  // namespace sortrec
