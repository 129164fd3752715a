// test_spill.cc — the spill store (files, per-process directory, stale
// clean-up, full disk) and the object table's spill / restore life cycle.
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "ferry/objstore/arena.h"
#include "ferry/objstore/object_table.h"
#include "ferry/objstore/spill.h"
#include "test_util.h"

using namespace ferry;
using namespace ferry::objstore;
using ferry::objstore::test::contains;
using ferry::objstore::test::EnvGuard;

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Files in `dir` (not . and ..).
std::size_t dir_entries(const std::string& dir) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    ::closedir(d);
  }
  return n;
}

// A fresh private base directory, removed (with anything left in it) at the end.
struct TempBase {
  std::string path;
  TempBase() {
    char tmpl[] = "/tmp/ferry-spill-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempBase() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>((i * 131 + seed * 7) >> 3));
  return v;
}

// The runtime's policy in miniature: spill the least recently used objects to a SpillStore.
class FileSpill : public SpillHandler {
 public:
  explicit FileSpill(std::string base) : store(SpillStore::open(std::move(base))) {}
  std::size_t make_room(ObjectTable& table, std::size_t bytes) override {
    ++calls;
    std::size_t released = 0;
    for (const ObjectInfo& v : table.evictable(1000)) {
      if (table.stats().arena.largest_free >= (bytes + kAlignment - 1) / kAlignment * kAlignment) break;
      auto r = table.spill(
          v.id, [](void* ctx, const ObjectInfo& info, std::span<const std::byte> p) {
            return static_cast<SpillStore*>(ctx)->write(info.id, p);
          },
          store.get());
      if (!r) {
        failure = r.status().message();
        break;
      }
      if (r.value() == ObjectTable::SpillOutcome::spilled) released += v.total_bytes();
      else if (r.value() == ObjectTable::SpillOutcome::discard) (void)store->remove(v.id);
    }
    return released;
  }
  Status read_back(const ObjectInfo& info, std::span<std::byte> dst) override {
    ++restores;
    return store->read_and_remove(info.id, dst);
  }
  void forget(ObjectId id, std::uint64_t, bool restored) override {
    if (!restored) (void)store->remove(id);
  }
  std::string why_no_room() const override { return failure; }
  std::unique_ptr<SpillStore> store;
  int calls = 0;
  int restores = 0;
  std::string failure;
};

void put(ObjectTable& t, ObjectId id, const std::vector<std::byte>& bytes) {
  auto info = t.create(id, bytes.size());
  REQUIRE(info.is_ok());
  std::memcpy(t.arena().at(info.value().payload_offset()), bytes.data(), bytes.size());
  REQUIRE(t.seal(id).is_ok());
}

void check_read(ObjectTable& t, ObjectId id, const std::vector<std::byte>& bytes) {
  auto info = t.pin(id);
  REQUIRE(info.is_ok());
  CHECK(info.value().state == ObjectState::sealed);
  CHECK(std::memcmp(t.arena().at(info.value().payload_offset()), bytes.data(), bytes.size()) == 0);
  REQUIRE(t.unpin(id).is_ok());
}

}  // namespace

TEST_CASE("spill store: write, read back, remove - the directory goes with the store", "[spill]") {
  TempBase base;
  std::string dir;
  {
    auto store = SpillStore::open(base.path);
    dir = store->dir();
    CHECK(contains(dir, base.path + "/ferry-spill."));
    CHECK(contains(dir, "." + std::to_string(::getpid())));
    CHECK_FALSE(exists(dir));  // made at the first spill only
    const auto a = pattern(100000, 1), b = pattern(5, 2);
    REQUIRE(store->write(ObjectId(3, 1), a).is_ok());
    REQUIRE(store->write(ObjectId(3, 2), b).is_ok());
    CHECK(exists(dir));
    CHECK(store->files() == 2);
    CHECK(store->bytes() == a.size() + b.size());
    CHECK(store->write(ObjectId(3, 1), a).code() == Errc::invalid_argument);  // already spilled

    std::vector<std::byte> back(a.size());
    REQUIRE(store->read_and_remove(ObjectId(3, 1), back).is_ok());
    CHECK(back == a);
    CHECK(store->files() == 1);
    auto again = store->read_and_remove(ObjectId(3, 1), back);
    CHECK(again.code() == Errc::internal);
    CHECK(contains(again.message(), "obj:3:1"));
    CHECK(store->remove(ObjectId(3, 2)));
    CHECK_FALSE(store->remove(ObjectId(3, 99)));  // unknown: ignored
    CHECK(store->files() == 0);
    CHECK(store->bytes() == 0);
    // A restored object's file leaves its name at once (the same id may spill again) and the
    // directory within a bounded time (the removal thread unlinks it).
    REQUIRE(store->write(ObjectId(3, 4), b).is_ok());
    std::vector<std::byte> back_b(b.size());
    REQUIRE(store->read_and_remove(ObjectId(3, 4), back_b).is_ok());
    CHECK(back_b == b);
    CHECK(store->files() == 0);
    REQUIRE(store->write(ObjectId(3, 4), a).is_ok());
    REQUIRE(store->read_and_remove(ObjectId(3, 4), back).is_ok());
    CHECK(back == a);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (dir_entries(dir) > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(dir_entries(dir) == 0);
    REQUIRE(store->write(ObjectId(3, 3), b).is_ok());  // left for the destructor
  }
  CHECK_FALSE(exists(dir));
}

TEST_CASE("spill store: FERRY_SPILL_DIR, then TMPDIR, then /tmp", "[spill]") {
  {
    EnvGuard a(kSpillDirEnv, "/x/spill");
    EnvGuard b("TMPDIR", "/x/tmp");
    CHECK(default_spill_base() == "/x/spill");
  }
  {
    EnvGuard a(kSpillDirEnv, std::nullopt);
    EnvGuard b("TMPDIR", "/x/tmp");
    CHECK(default_spill_base() == "/x/tmp");
  }
  {
    EnvGuard a(kSpillDirEnv, "");
    EnvGuard b("TMPDIR", std::nullopt);
    CHECK(default_spill_base() == "/tmp");
  }
}

TEST_CASE("spill store: open removes directories of dead processes of this host, keeps live ones", "[spill]") {
  TempBase base;
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);  // `child` is now a pid with no process
  auto mine = SpillStore::open(base.path);
  const std::string prefix = mine->dir().substr(0, mine->dir().rfind('.') + 1);
  const std::string dead = prefix + std::to_string(child), live = prefix + "1", other = base.path + "/unrelated";
  for (const auto& d : {dead, live, other}) REQUIRE(::mkdir(d.c_str(), 0700) == 0);
  REQUIRE(std::system(("touch '" + dead + "/obj-0-1-0'").c_str()) == 0);
  auto store = SpillStore::open(base.path);
  CHECK_FALSE(exists(dead));
  CHECK(exists(live));  // pid 1 is alive
  CHECK(exists(other));
}

TEST_CASE("table: a full store spills the least recently used objects - pin restores them", "[spill][table]") {
  TempBase base;
  auto arena = Arena::create({kMiB});
  REQUIRE(arena.is_ok());
  ObjectTable table(*arena.value());
  auto spill = std::make_shared<FileSpill>(base.path);
  table.set_spill_handler(spill);
  constexpr std::size_t kPayload = 200 * 1024;
  std::vector<std::vector<std::byte>> data;
  for (unsigned i = 1; i <= 12; ++i) {  // 12 x 200 KiB in a 1 MiB store
    data.push_back(pattern(kPayload, i));
    put(table, ObjectId(0, i), data.back());
    if (i == 2) check_read(table, ObjectId(0, 1), data[0]);  // 1 used after 2: 2 is older
  }
  auto s = table.stats();
  CHECK(s.objects == 12);
  CHECK(s.spilled == 7);  // 5 blocks of 200 KiB + header fit in 1 MiB
  CHECK(s.spilled_bytes == s.spilled * kPayload);
  CHECK(spill->store->files() == s.spilled);
  CHECK(table.lookup(ObjectId(0, 2)).value().state == ObjectState::spilled);  // LRU went first
  CHECK(table.payload(ObjectId(0, 2)).status().code() == Errc::unsupported);
  CHECK(table.evictable(100).size() + s.spilled == 12);

  for (unsigned i = 1; i <= 12; ++i) check_read(table, ObjectId(0, i), data[i - 1]);  // restores (and spills others)
  CHECK(spill->restores >= 7);
  CHECK(spill->store->files() == table.stats().spilled);

  // Freeing a spilled object deletes its file; freeing the rest leaves an empty store and disk.
  for (unsigned i = 1; i <= 12; ++i) REQUIRE(table.free(ObjectId(0, i)).is_ok());
  CHECK(table.stats().objects == 0);
  CHECK(table.stats().spilled == 0);
  CHECK(spill->store->files() == 0);
  CHECK(arena.value()->allocator().stats().used == 0);
  REQUIRE(arena.value()->allocator().check_invariants().is_ok());
}

TEST_CASE("table: pinned objects are never spilled - concurrent pins share one restore", "[spill][table]") {
  TempBase base;
  auto arena = Arena::create({kMiB});
  REQUIRE(arena.is_ok());
  ObjectTable table(*arena.value());
  auto spill = std::make_shared<FileSpill>(base.path);
  table.set_spill_handler(spill);
  constexpr std::size_t kPayload = 400 * 1024;  // two fit
  const auto a = pattern(kPayload, 1), b = pattern(kPayload, 2), c = pattern(kPayload, 3);
  put(table, ObjectId(0, 1), a);
  REQUIRE(table.pin(ObjectId(0, 1)).is_ok());
  put(table, ObjectId(0, 2), b);
  put(table, ObjectId(0, 3), c);  // needs room: 2 goes (1 is pinned)
  CHECK(table.lookup(ObjectId(0, 1)).value().state == ObjectState::sealed);
  CHECK(table.lookup(ObjectId(0, 2)).value().state == ObjectState::spilled);
  REQUIRE(table.unpin(ObjectId(0, 1)).is_ok());

  std::vector<std::thread> readers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      auto info = table.pin(ObjectId(0, 2));
      if (info && std::memcmp(table.arena().at(info.value().payload_offset()), b.data(), b.size()) == 0) ++ok;
      if (info) (void)table.unpin(ObjectId(0, 2));
    });
  for (auto& t : readers) t.join();
  CHECK(ok == 4);
  CHECK(spill->restores == 1);
}

TEST_CASE("table: larger than the whole store is store_full naming the sizes, without spilling", "[spill][table]") {
  TempBase base;
  auto arena = Arena::create({kMiB});
  REQUIRE(arena.is_ok());
  ObjectTable table(*arena.value());
  auto spill = std::make_shared<FileSpill>(base.path);
  table.set_spill_handler(spill);
  put(table, ObjectId(0, 1), pattern(1000, 1));
  auto r = table.create(ObjectId(0, 2), 2 * kMiB);
  REQUIRE(r.status().code() == Errc::store_full);
  CHECK(contains(r.status().message(), "2097152-byte payload"));
  CHECK(contains(r.status().message(), "larger than the whole store (1048576 bytes"));
  CHECK(spill->calls == 0);
  CHECK(table.stats().spilled == 0);
}

// A full spill disk: a 256 KiB tmpfs mounted in a private mount namespace of
// this process (it vanishes with the process). Needs root (CAP_SYS_ADMIN):
// otherwise the case exits 77, which CTest reports as skipped.
TEST_CASE("table: a full spill disk is store_full naming the directory and its free bytes", "[spill][table][mount]") {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("SKIPPED: cannot make a private mount namespace (%s); needs root\n", std::strerror(errno));
    std::exit(77);
  }
  TempBase base;
  REQUIRE(::mount("tmpfs", base.path.c_str(), "tmpfs", 0, "size=256k") == 0);
  {
    auto arena = Arena::create({kMiB});
    REQUIRE(arena.is_ok());
    ObjectTable table(*arena.value());
    auto spill = std::make_shared<FileSpill>(base.path);
    table.set_spill_handler(spill);
    constexpr std::size_t kPayload = 300 * 1024;  // one does not fit on the disk
    const auto a = pattern(kPayload, 1), b = pattern(kPayload, 2), c = pattern(kPayload, 3), d = pattern(kPayload, 4);
    put(table, ObjectId(0, 1), a);
    put(table, ObjectId(0, 2), b);
    put(table, ObjectId(0, 3), c);
    auto r = table.create(ObjectId(0, 4), kPayload);
    REQUIRE(r.status().code() == Errc::store_full);
    const std::string& m = r.status().message();
    CHECK(contains(m, "the spill directory " + spill->store->dir() + " is full ("));
    CHECK(contains(m, "free; set FERRY_SPILL_DIR"));
    CHECK(spill->store->files() == 0);  // the partial file was removed
    for (unsigned i = 1; i <= 3; ++i) check_read(table, ObjectId(0, i), i == 1 ? a : i == 2 ? b : c);
  }
  CHECK(::umount2(base.path.c_str(), MNT_DETACH) == 0);
}
