// pmix_bootstrap.cc — bootstrap through the PMIx server of srun --mpi=pmix or Open MPI's mpirun.
//
// PMIx_Init is called only when PMIX_NAMESPACE is set (without a server it fails with
// UNREACHABLE anyway, after probing). Rank = the proc PMIx_Init returns; size =
// PMIX_JOB_SIZE of the namespace's wildcard rank (no launcher-specific variable).
// allgather number k of this process: Put("ferry.bs.<k>", PMIX_BYTE_OBJECT) + Commit + Fence(collect data)
// + Get of that key from every rank. barrier = Fence without data. Every Fence carries
// PMIX_TIMEOUT (whole seconds, rounded up) so a missing rank ends in bootstrap_failed, not a
// hang; the PMIx server cannot say which ranks were missing, so the message says so.
// PMIx_Init/Finalize are reference counted by libpmix, so coexisting with MPI is fine.
//
// Without FERRY_HAVE_PMIX (built with -DFERRY_WITH_PMIX=OFF) make_pmix_bootstrap returns
// unsupported. Thread-safety: one thread at a time (start-up only).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ferry/launcher/bootstrap.h"

#ifdef FERRY_HAVE_PMIX
#include <pmix.h>
#endif

namespace ferry::launcher {

#ifdef FERRY_HAVE_PMIX
namespace {

using transport::ByteView;
using transport::Bytes;

std::string pmix_error(pmix_status_t rc) { return std::string(PMIx_Error_string(rc)) + " (" + std::to_string(rc) + ")"; }

// Reads an unsigned PMIx value of any integer width.
bool value_to_u64(const pmix_value_t& v, std::uint64_t& out) {
  switch (v.type) {
    case PMIX_UINT32: out = v.data.uint32; return true;
    case PMIX_UINT16: out = v.data.uint16; return true;
    case PMIX_UINT64: out = v.data.uint64; return true;
    case PMIX_UINT8: out = v.data.uint8; return true;
    case PMIX_INT: if (v.data.integer < 0) return false; out = static_cast<std::uint64_t>(v.data.integer); return true;
    case PMIX_SIZE: out = v.data.size; return true;
    default: return false;
  }
}

// Process-wide, so a second PmixBootstrap in the same process never reuses a key (every rank
// runs the same sequence of collectives, so the numbers agree across ranks).
std::atomic<std::uint64_t> g_next_round{0};

class PmixBootstrap final : public Bootstrap {
 public:
  PmixBootstrap(const pmix_proc_t& me, Rank size, std::chrono::milliseconds timeout)
      : me_(me), size_(size), timeout_s_(static_cast<int>((timeout.count() + 999) / 1000)) {
    if (timeout_s_ < 1) timeout_s_ = 1;
  }
  ~PmixBootstrap() override { finalize(); }

  // Idempotent; afterwards allgather/barrier fail with bootstrap_failed.
  void finalize() {
    if (finalized_) return;
    finalized_ = true;
    (void)PMIx_Finalize(nullptr, 0);
  }

  Rank rank() const override { return me_.rank; }
  Rank size() const override { return size_; }
  std::string name() const override { return "pmix"; }

  Result<std::vector<Bytes>> allgather(ByteView mine) override {
    if (finalized_) return finalized_error("allgather");
    const std::string key = "ferry.bs." + std::to_string(g_next_round++);
    if (auto s = put(key, mine); !s) return s;
    if (auto s = fence(true, key); !s) return s;
    std::vector<Bytes> out(size_);
    for (Rank r = 0; r < size_; ++r) {
      auto blob = get(key, r);
      if (!blob) return blob.status();
      out[r] = std::move(blob).value();
    }
    return out;
  }

  Status barrier() override {
    if (finalized_) return finalized_error("barrier");
    return fence(false, "barrier " + std::to_string(barriers_++));
  }

 private:
  Status finalized_error(const char* what) const {
    return Status(Errc::bootstrap_failed, where() + ": " + what + " after start-up: the PMIx client was finalized "
                                                    "once ferry::init completed");
  }

  std::string where() const {
    return "PMIx bootstrap, rank " + std::to_string(me_.rank) + "/" + std::to_string(size_) + " of namespace " +
           me_.nspace;
  }

  Status put(const std::string& key, ByteView data) {
    pmix_byte_object_t bo;
    bo.bytes = const_cast<char*>(reinterpret_cast<const char*>(data.data()));
    bo.size = data.size();
    pmix_value_t val;
    PMIX_VALUE_CONSTRUCT(&val);
    pmix_status_t rc = PMIx_Value_load(&val, &bo, PMIX_BYTE_OBJECT);  // copies
    if (rc == PMIX_SUCCESS) rc = PMIx_Put(PMIX_GLOBAL, key.c_str(), &val);
    PMIx_Value_destruct(&val);
    if (rc == PMIX_SUCCESS) rc = PMIx_Commit();
    if (rc != PMIX_SUCCESS)
      return Status(Errc::bootstrap_failed, where() + ": PMIx_Put/Commit of '" + key + "' failed: " + pmix_error(rc));
    return Status::ok();
  }

  Status fence(bool collect, const std::string& what) {
    pmix_info_t info[2];
    PMIX_INFO_CONSTRUCT(&info[0]);
    PMIX_INFO_CONSTRUCT(&info[1]);
    (void)PMIx_Info_load(&info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    (void)PMIx_Info_load(&info[1], PMIX_TIMEOUT, &timeout_s_, PMIX_INT);
    pmix_status_t rc = PMIx_Fence(nullptr, 0, info, 2);
    PMIX_INFO_DESTRUCT(&info[0]);
    PMIX_INFO_DESTRUCT(&info[1]);
    if (rc == PMIX_SUCCESS) return Status::ok();
    std::string msg = where() + ": PMIx_Fence (" + what + ") failed: " + pmix_error(rc);
    if (rc == PMIX_ERR_TIMEOUT)
      msg += "; not every rank arrived within " + std::to_string(timeout_s_) +
             " s (PMIx does not say which; did a rank crash or never start ferry? "
             "FERRY_BOOTSTRAP_TIMEOUT_MS sets the limit)";
    return Status(Errc::bootstrap_failed, msg);
  }

  Result<Bytes> get(const std::string& key, Rank r) {
    pmix_proc_t peer;
    PMIX_LOAD_PROCID(&peer, me_.nspace, r);
    pmix_value_t* v = nullptr;
    pmix_status_t rc = PMIx_Get(&peer, key.c_str(), nullptr, 0, &v);
    if (rc != PMIX_SUCCESS || !v)
      return Status(Errc::bootstrap_failed,
                    where() + ": PMIx_Get('" + key + "') from rank " + std::to_string(r) + " failed: " + pmix_error(rc));
    Bytes out;
    bool ok = v->type == PMIX_BYTE_OBJECT;
    if (ok && v->data.bo.size > 0) {
      out.resize(v->data.bo.size);
      std::memcpy(out.data(), v->data.bo.bytes, v->data.bo.size);
    }
    const int type = v->type;
    PMIX_VALUE_RELEASE(v);
    if (!ok)
      return Status(Errc::bootstrap_failed, where() + ": PMIx_Get('" + key + "') from rank " + std::to_string(r) +
                                                " returned type " + std::to_string(type) + ", not a byte object");
    return out;
  }

  pmix_proc_t me_;
  Rank size_;
  int timeout_s_;
  std::uint64_t barriers_ = 0;
  bool finalized_ = false;  // end_startup() or the destructor ran PMIx_Finalize
};

// Asks the server for PMIX_JOB_SIZE on the wildcard rank.
Result<Rank> job_size(const pmix_proc_t& me) {
  pmix_proc_t wild;
  PMIX_LOAD_PROCID(&wild, me.nspace, PMIX_RANK_WILDCARD);
  pmix_value_t* v = nullptr;
  pmix_status_t rc = PMIx_Get(&wild, PMIX_JOB_SIZE, nullptr, 0, &v);
  if (rc != PMIX_SUCCESS || !v)
    return Status(Errc::bootstrap_failed, std::string("PMIx bootstrap: PMIx_Get(PMIX_JOB_SIZE) for namespace ") +
                                              me.nspace + " failed: " + pmix_error(rc));
  std::uint64_t n = 0;
  bool ok = value_to_u64(*v, n);
  PMIX_VALUE_RELEASE(v);
  if (!ok || n == 0 || me.rank >= n || n >= transport::kInvalidRank)
    return Status(Errc::bootstrap_failed, std::string("PMIx bootstrap: PMIX_JOB_SIZE of namespace ") + me.nspace +
                                              " is unusable (size " + std::to_string(n) + ", my rank " +
                                              std::to_string(me.rank) + ")");
  return static_cast<Rank>(n);
}

}  // namespace

Result<std::unique_ptr<Bootstrap>> make_pmix_bootstrap(std::chrono::milliseconds timeout) {
  const char* ns = std::getenv("PMIX_NAMESPACE");
  if (!ns || !*ns)
    return Status(Errc::bootstrap_failed,
                  "PMIx bootstrap: PMIX_NAMESPACE is not set, so no PMIx server started this process; "
                  "launch with srun --mpi=pmix, mpirun or ferry-run -n N (or unset FERRY_BOOTSTRAP=pmix)");
  pmix_proc_t me;
  PMIX_PROC_CONSTRUCT(&me);
  pmix_status_t rc = PMIx_Init(&me, nullptr, 0);
  if (rc != PMIX_SUCCESS)
    return Status(Errc::bootstrap_failed,
                  std::string("PMIx bootstrap: PMIx_Init failed for PMIX_NAMESPACE=") + ns + ": " + pmix_error(rc) +
                      "; is the launcher's PMIx server still running and reachable (PMIX_SERVER_URI*)?");
  auto size = job_size(me);
  if (!size) {
    (void)PMIx_Finalize(nullptr, 0);
    return size.status();
  }
  return std::unique_ptr<Bootstrap>(new PmixBootstrap(me, *size, timeout));
}

void end_startup(Bootstrap& b) {
  if (auto* p = dynamic_cast<PmixBootstrap*>(&b)) p->finalize();
}

#else  // !FERRY_HAVE_PMIX

void end_startup(Bootstrap&) {}

Result<std::unique_ptr<Bootstrap>> make_pmix_bootstrap(std::chrono::milliseconds) {
  return Status(Errc::unsupported,
                "PMIx bootstrap: this ferry was built without PMIx (FERRY_WITH_PMIX=OFF); rebuild with "
                "libpmix-dev installed, or launch with ferry-run -n N");
}

#endif

}  // namespace ferry::launcher
