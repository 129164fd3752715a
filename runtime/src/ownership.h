// ownership.h — the ownership core: who owns what, where its copies are, who
// reads it, and when it may be freed (internal; STYLE.md item 8).
//
// One Ownership instance per rank. It performs NO I/O: every method that may
// cause work returns Actions (free a block of this rank's object table, tell a
// holder to drop its copy, answer a reader), which the runtime executes after
// the call, without any lock held. That makes the whole protocol testable in
// one process (tests/runtime/test_simulation.cc runs many ranks over queues).
//
// Owner side (objects whose id.owner() == self):
//   Owned entry: state (pending | ready | failed + error), meta (size, type tag,
//   format, aux), primary location (rank + header offset in that rank's arena)
//   or an inline value, secondary copies (readers that cached it), retired
//   copies (no longer handed out, dropped when their leases end), read leases,
//   waiting readers (pending objects), local reference count.
//   * refs counts this rank's ObjectRef handles. When it reaches 0 the entry is
//     `released`: readers get not_found from then on; once no lease is
//     outstanding the entry is erased and its blocks freed (primary here ->
//     free_local; every copy -> drop_copies).
//   * locate(): a reader asks for the object. Small objects (size <=
//     inline_bytes) whose primary is here are answered with the bytes
//     (from_arena: the runtime copies the payload into the reply); larger ones
//     with a holder (primary or a copy, round robin) and a lease: the holder's
//     block stays allocated until the reader calls read_done(), so a one-sided
//     get never races with a free.
//   * read_done(): lease returned; when the reader cached a copy it becomes a
//     secondary location (or is dropped at once if the object is released).
// Holder side: copies_ records this rank's cached copies of other ranks'
//   objects; they live until the owner says drop_copy() or the owner dies.
// Reader side: borrowed_ counts this rank's refs to foreign objects and keeps
//   the small value fetched for them (dropped with the last local ref).
// Failure: peer_failed(r) releases r's leases, forgets r's copies and waiting
//   requests, and frees local copies of objects r owned (refs owned by a dead
//   rank fail with owner_died). An owned object whose primary was on r gets a
//   secondary copy as its new primary if one exists; if live readers still hold
//   leases on the dead holder, their read_done decides (a copy that arrives becomes
//   the primary; the loss counts once the last such lease ended); otherwise a task output
//   goes back to pending and is listed in `reconstruct` (the runtime re-runs
//   its task from lineage, or fails it with object_lost); anything else fails
//   with object_lost. Erased task outputs are listed in `forget_lineage`.
// Borrowers (borrowing.cc; protocol in docs/ARCHITECTURE.md "Borrowers"):
//   an owned entry also counts its borrowers (ranks that decoded a ref to it,
//   one registration "episode" each) and is released only when its local
//   refs AND its borrowers are gone. A rank that decodes a ref to a foreign
//   object it holds no ref to yet registers (add_ref_decoded -> borrow_adds,
//   answered by borrow_acked); its last ref dropped -> borrow_removes. A ref
//   that arrives as a running task's argument is covered by the submitter's
//   hold instead, and registers only if it outlives the task (uncover). Refs
//   contained in an object's value are held by the object's entry
//   (add_contained) until it is erased. A rank that sends a value holding refs
//   to another rank keeps them (hold_for) until the receiver releases them.
//
// Invariants (under mu_): a lease exists only in a ready entry and names a
//   holder that is the primary or in copies/retired; a released entry has
//   refs == 0, no waiters, and is erased as soon as its leases are gone;
//   copies_ never holds an id owned by self or by a dead rank.
// Thread-safety: every public method is thread-safe (one annotated mutex);
//   none calls out while holding it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/detail/object_api.h"
#include "ferry/objstore/object_id.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"
#include "thread_annotations.h"

namespace ferry::rt {

using detail::ObjectMeta;
using objstore::ObjectId;
using transport::kInvalidRank;
using transport::Rank;
using SharedBytes = std::shared_ptr<const transport::Bytes>;

// Where an object's bytes are: header offset inside `rank`'s arena.
struct Location {
  Rank rank = kInvalidRank;
  std::uint64_t offset = 0;
  friend bool operator==(const Location&, const Location&) = default;
};

enum class ReplyKind : std::uint8_t {
  error = 0,       // `error` says why (not_found, failed object, ...)
  value = 1,       // the bytes are in `value`
  from_arena = 2,  // owner: copy the payload at `where` (own arena) into the reply
  at_holder = 3,   // read 64 + size bytes one-sided at `where`; return `lease` via read_done
};
const char* to_string(ReplyKind k) noexcept;

struct LocateReply {
  ReplyKind kind = ReplyKind::error;
  Status error;
  ObjectMeta meta;
  SharedBytes value;
  Location where;
  std::uint64_t lease = 0;  // 0: no lease (the reader reads its own arena)
};

struct Reply {
  Rank reader = kInvalidRank;
  std::uint64_t request = 0;
  ObjectId id;
  LocateReply body;
};

struct Drop {
  Rank holder = kInvalidRank;
  ObjectId id;
};

// One registration episode of a borrower: `seq` is unique per borrowing rank.
struct BorrowMsg {
  ObjectId id;  // sent to id.owner()
  std::uint64_t seq = 0;
};
struct BorrowAck {
  Rank borrower = kInvalidRank;
  ObjectId id;
  std::uint64_t seq = 0;
  Status status;  // ok, or why the ref is not valid (not_found naming the id)
};
// Tell `holder` that the refs it kept for this rank (hold_for) may go.
struct Release {
  Rank holder = kInvalidRank;
  ObjectId id;
};
// A registration of this rank finished (local waiters of add_ref_decoded).
struct Registered {
  ObjectId id;
  std::uint64_t seq = 0;
  Status status;
};

// Work the caller must do after an Ownership call (in this order is fine).
struct Actions {
  std::vector<ObjectId> free_local;  // free from this rank's object table
  std::vector<Drop> drop_copies;     // tell `holder` to drop its copy of `id`
  std::vector<Reply> replies;        // answer readers (reader == self: a local waiter)
  std::vector<BorrowMsg> borrow_adds;     // send kBorrowAdd to id.owner()
  std::vector<BorrowMsg> borrow_removes;  // send kBorrowRemove to id.owner()
  std::vector<BorrowAck> borrow_acks;     // owner: answer a borrower's kBorrowAdd
  std::vector<Release> releases;          // send kRelease (holder == self: release_for(self))
  std::vector<Registered> registered;     // wake local waiters of a registration
  std::vector<ObjectId> retire_copies;    // send kRetireCopy to id.owner(): our copy is unreferenced
  // Lineage (lineage.h): task outputs whose every copy was lost, now pending
  // again: re-execute them (or fail them with object_lost); task outputs
  // erased: their lineage may go.
  std::vector<ObjectId> reconstruct;
  std::vector<ObjectId> forget_lineage;
  bool empty() const noexcept {
    return free_local.empty() && drop_copies.empty() && replies.empty() && borrow_adds.empty() &&
           borrow_removes.empty() && borrow_acks.empty() && releases.empty() && registered.empty() &&
           retire_copies.empty() && reconstruct.empty() && forget_lineage.empty();
  }
  void append(Actions&& other);
};

struct OwnershipStats {
  std::size_t owned = 0;     // entries (released ones included until erased)
  std::size_t released = 0;  // refs reached 0, waiting for leases
  std::size_t pending = 0;
  std::size_t leases = 0;
  std::size_t waiters = 0;
  std::size_t secondary = 0;  // copies of owned objects held by other ranks
  std::size_t borrowed = 0;   // foreign ids referenced here
  std::size_t values = 0;     // small values cached for borrowed ids
  std::size_t copies = 0;     // local copies of foreign objects
  std::size_t borrowers = 0;  // registration episodes of other ranks on owned objects
  std::size_t transfers = 0;  // refs kept for receivers (hold_for) not yet released
  bool empty() const noexcept {
    return owned == 0 && leases == 0 && waiters == 0 && borrowed == 0 && values == 0 && copies == 0 &&
           borrowers == 0 && transfers == 0;
  }
  std::string describe() const;
};

class Ownership {
 public:
  // `inline_bytes`: objects up to this payload size are answered with their bytes.
  Ownership(Rank self, std::size_t inline_bytes);
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;

  Rank self() const noexcept { return self_; }
  std::size_t inline_bytes() const noexcept { return inline_bytes_; }

  // ---- owner: new objects (the caller holds the first reference) ----
  // Ready object whose bytes are at `primary` (this rank's arena for put()).
  Status add_owned(ObjectId id, const ObjectMeta& meta, Location primary) FERRY_EXCLUDES(mu_);
  // Ready object kept as an inline value (no arena block).
  Status add_owned_value(ObjectId id, const ObjectMeta& meta, SharedBytes value) FERRY_EXCLUDES(mu_);
  // An object still being computed (a task output). Readers wait.
  Status add_pending(ObjectId id) FERRY_EXCLUDES(mu_);
  // pending -> ready (exactly one of primary/value); answers the waiters.
  Actions set_ready(ObjectId id, const ObjectMeta& meta, std::optional<Location> primary, SharedBytes value)
      FERRY_EXCLUDES(mu_);
  // pending -> failed; waiters and later readers get `why`.
  Actions set_failed(ObjectId id, Status why) FERRY_EXCLUDES(mu_);
  // Many set_ready / set_failed under one lock acquisition (a batch of task completions).
  struct Outcome {
    ObjectId id;
    bool failed = false;
    ObjectMeta meta;                  // ready: exactly one of primary / value
    std::optional<Location> primary;
    SharedBytes value;
    Status error;                     // failed
  };
  Actions complete(std::span<Outcome> outcomes) FERRY_EXCLUDES(mu_);

  // ---- local references (owned or foreign ids) ----
  void add_ref(ObjectId id) FERRY_EXCLUDES(mu_);
  Actions remove_ref(ObjectId id) FERRY_EXCLUDES(mu_);
  Actions remove_refs(std::span<const ObjectId> ids) FERRY_EXCLUDES(mu_);  // one lock for all
  // This rank's count for `id` (owned: 0 once released).
  std::uint64_t ref_count(ObjectId id) const FERRY_EXCLUDES(mu_);

  // ---- borrowers (borrowing.cc)
  // A ref decoded from a message or a value (ObjectRef::from_id). Owned: one
  // more local ref unless the entry is released (a stale/forged ref stays
  // dead). Foreign: one more ref; the first one starts a registration episode
  // (borrow_adds) and `wait` is set: the caller must keep whatever carried the
  // ref alive until `registered` reports the episode (seq).
  // `covered`: the ref is a running task's argument, which its submitter holds
  // until the task's done record. A foreign ref then needs no registration yet:
  // its entry is `covered` (no message, no wait; `covered` is set in the result
  // when this decode counts as one cover) until uncover() ends the task's covers.
  // A decode that is not covered of a covered entry registers (and waits) as a
  // first decode does.
  struct Decoded {
    Actions actions;
    bool wait = false;
    bool covered = false;
    std::uint64_t seq = 0;
  };
  Decoded add_ref_decoded(ObjectId id, bool covered = false) FERRY_EXCLUDES(mu_);
  // A task whose decodes returned `covered` for `ids` ended (before its done record
  // leaves). An id still referenced here and covered starts its registration
  // (borrow_adds), even if other running tasks cover it too; one registering (so
  // started, or started by a holder that no task's submitter stands for: a
  // non-covered decode, a contained hold) is waited for as well. Each is appended
  // to `wait` with one more ref: the done record must not leave before
  // `registered` reports the episode; the caller then drops that ref
  // (remove_ref). One no longer referenced was erased already, with no message.
  Actions uncover(std::span<const ObjectId> ids, std::vector<BorrowMsg>& wait) FERRY_EXCLUDES(mu_);
  // Episode `seq` of `id` still waits for its owner's answer.
  bool registering(ObjectId id, std::uint64_t seq) const FERRY_EXCLUDES(mu_);
  // Owner: `borrower` registers (answered in borrow_acks) / ends an episode.
  Actions borrow_add(ObjectId id, Rank borrower, std::uint64_t seq) FERRY_EXCLUDES(mu_);
  Actions borrow_remove(ObjectId id, Rank borrower, std::uint64_t seq) FERRY_EXCLUDES(mu_);
  // Borrower: the owner answered episode `seq` (error: the ref is not valid).
  Actions borrow_acked(ObjectId id, std::uint64_t seq, Status status) FERRY_EXCLUDES(mu_);
  // Owner of `outer`: its value holds refs `inner`; the entry keeps one ref to
  // each until it is erased. `from` (or kInvalidRank) kept them for us
  // (hold_for): it is told to release each once our hold is registered.
  Actions add_contained(ObjectId outer, std::span<const ObjectId> inner, Rank from) FERRY_EXCLUDES(mu_);
  // Sender of a value holding refs `ids` to rank `to`: keep one ref to each
  // until `to` releases it (release_for) or dies. The refs must be held here.
  void hold_for(Rank to, std::span<const ObjectId> ids) FERRY_EXCLUDES(mu_);
  Actions release_for(Rank to, std::span<const ObjectId> ids) FERRY_EXCLUDES(mu_);
  // The error of a foreign ref whose registration was refused (or whose owner died).
  std::optional<Status> borrow_error(ObjectId id) const FERRY_EXCLUDES(mu_);

  // ---- owner: readers ----
  // `reader` asks where `id` is (request is the reader's tag, echoed in the
  // reply). `bad_holder`: a holder the reader could not read from; its copy
  // is no longer handed out and is dropped once its leases end.
  Actions locate(ObjectId id, Rank reader, std::uint64_t request, Rank bad_holder = kInvalidRank)
      FERRY_EXCLUDES(mu_);
  // The reader finished (or abandoned) the one-sided read of lease `lease`;
  // `cached_offset`: it kept a copy at that offset of its arena.
  Actions read_done(ObjectId id, Rank reader, std::uint64_t lease, std::optional<std::uint64_t> cached_offset)
      FERRY_EXCLUDES(mu_);

  // ---- holder: local copies of foreign objects ----
  // Records a sealed copy at `offset`; if the owner is dead (or is self) the
  // block is freed right away (free_local). Recording an id twice is a no-op.
  Actions add_copy(ObjectId id, std::uint64_t offset) FERRY_EXCLUDES(mu_);
  std::optional<std::uint64_t> copy_offset(ObjectId id) const FERRY_EXCLUDES(mu_);
  // The owner said drop: free_local if the copy exists.
  Actions drop_copy(ObjectId id) FERRY_EXCLUDES(mu_);
  // Owner (eviction.cc): `holder` wants its secondary copy of `id` gone (store
  // pressure). The copy is no longer handed out and is dropped (drop_copies)
  // once its read leases end. Not a secondary copy (the primary, unknown,
  // already retired): nothing happens.
  Actions retire_copy(ObjectId id, Rank holder) FERRY_EXCLUDES(mu_);

  // ---- reader: small values of foreign objects (kept while referenced) ----
  void cache_value(ObjectId id, const ObjectMeta& meta, SharedBytes value) FERRY_EXCLUDES(mu_);
  struct CachedValue {
    ObjectMeta meta;
    SharedBytes value;
  };
  std::optional<CachedValue> cached_value(ObjectId id) const FERRY_EXCLUDES(mu_);

  // ---- any rank: what this rank can read right now, without a message.
  struct LocalRead {
    enum class Kind : std::uint8_t {
      none,     // not readable here now (remote, unknown, released): take the fetch path
      pending,  // owned here and still being computed (a task output)
      value,   // `value` holds the bytes (inline value owned here, or cached small value)
      arena,   // the bytes are a block of this rank's arena (owned primary here, or a cached copy)
      failed,  // an owned object whose task failed: `error`
    };
    Kind kind = Kind::none;
    ObjectMeta meta;
    SharedBytes value;
    Status error;
  };
  LocalRead local_read(ObjectId id) const FERRY_EXCLUDES(mu_);

  // ---- scheduling hint: where `id`'s bytes are and how many (task placement).
  struct Hint {
    Rank rank = kInvalidRank;
    std::uint64_t bytes = 0;
  };
  std::optional<Hint> location_hint(ObjectId id) const FERRY_EXCLUDES(mu_);

  // ---- failures and shutdown ----
  Actions peer_failed(Rank peer) FERRY_EXCLUDES(mu_);
  bool is_dead(Rank peer) const FERRY_EXCLUDES(mu_);
  // Forgets everything; free_local for every block this rank holds, error
  // replies (shut_down) for every waiting reader. No drop messages.
  Actions clear() FERRY_EXCLUDES(mu_);

  OwnershipStats stats() const FERRY_EXCLUDES(mu_);

 private:
  enum class State : std::uint8_t { pending, ready, failed };
  struct Lease {
    std::uint64_t id;
    Rank reader;
    Rank holder;
  };
  struct Waiter {
    Rank reader;
    std::uint64_t request;
  };
  // The rarely used parts of an entry (a failed task's error, copies on other
  // ranks, read leases, waiting readers), allocated on first use: most entries
  // (small task outputs and puts read once) never need them, and the map's
  // nodes stay small (cache footprint with 100k live objects).
  struct Episode {
    Rank rank;
    std::uint64_t seq;
  };
  struct Extra {
    Status error;
    std::vector<Episode> borrowers;   // live registration episodes of other ranks
    std::vector<Episode> tombstones;  // removes that overtook their add
    std::vector<ObjectId> contained;  // refs this object's value holds (one ref each)
    std::vector<Location> copies;   // handed out to readers
    std::vector<Location> retired;  // no longer handed out; dropped when their leases end
    std::vector<Lease> leases;
    std::vector<Waiter> waiters;
    // The primary's holder died while live readers held leases on it: a reader whose one-sided
    // read had completed announces a copy in its read_done, which becomes the primary; the
    // object counts as lost (re-made or failed) only once the last of those leases ended.
    // kInvalidRank otherwise. The entry is `pending` meanwhile (new readers wait).
    Rank lost_holder = transport::kInvalidRank;
  };
  struct Owned {
    State state = State::ready;
    bool released = false;
    bool task_output = false;  // made by add_pending: may be re-made from lineage
    std::uint32_t cursor = 0;  // round robin over holders
    std::uint64_t refs = 1;
    ObjectMeta meta;
    std::optional<Location> primary;
    SharedBytes value;
    std::unique_ptr<Extra> extra;

    Extra& x() {  // for writing: allocates the extra part
      if (!extra) extra = std::make_unique<Extra>();
      return *extra;
    }
    const Extra& view() const;  // for reading: an empty one when none was allocated
  };
  // covered: unregistered, kept alive by the submitters of `covers` running tasks; only
  // those tasks' own handles (and copies of them) hold it: any other holder registers.
  enum class Reg : std::uint8_t { none, covered, registering, registered, invalid };
  struct Borrowed {
    std::uint64_t refs = 0;
    std::uint32_t covers = 0;        // reg == covered: running tasks that brought the ref
    ObjectMeta meta;
    SharedBytes value;
    Reg reg = Reg::none;
    std::uint64_t seq = 0;           // registration episode
    Status error;                    // reg == invalid
    std::vector<Rank> release_to;    // holders to release once registered
  };
  using OwnedMap = std::unordered_map<ObjectId, Owned>;

  Status add_entry(ObjectId id, Owned entry) FERRY_EXCLUDES(mu_);
  void set_ready_locked(ObjectId id, const ObjectMeta& meta, std::optional<Location> primary, SharedBytes value,
                        Actions& out) FERRY_REQUIRES(mu_);
  void set_failed_locked(ObjectId id, Status why, Actions& out) FERRY_REQUIRES(mu_);
  // -> failed with `why`; its waiting readers get `why` (the caller settles the entry).
  void fail_locked(ObjectId id, Owned& e, Status why, Actions& out) FERRY_REQUIRES(mu_);
  // The primary of `e` (on dead rank `holder`) is gone: promote a copy,
  // or back to pending + reconstruct (task outputs), or fail (object_lost).
  void lose_primary_locked(ObjectId id, Owned& e, Rank holder, Actions& out) FERRY_REQUIRES(mu_);
  // No copy is left or coming: a task output goes back to pending and is re-made, anything else fails.
  void decide_lost_locked(ObjectId id, Owned& e, Rank holder, Actions& out) FERRY_REQUIRES(mu_);
  // After leases ended: decides an object whose copies-in-flight (Extra::lost_holder) are all settled.
  void settle_lost_locked(ObjectId id, Owned& e, Actions& out) FERRY_REQUIRES(mu_);
  void remove_ref_locked(ObjectId id, Actions& out) FERRY_REQUIRES(mu_);
  // Refs of erased entries' contained lists, dropped at the end of each call.
  void drain_unheld(Actions& out) FERRY_REQUIRES(mu_);
  bool unreferenced(const Owned& e) const { return e.refs == 0 && (!e.extra || e.extra->borrowers.empty()); }
  // One more ref to `id` kept for `from` (released once registered); false: the ref is dead.
  bool hold_locked(ObjectId id, Rank from, Actions& out) FERRY_REQUIRES(mu_);
  void erase_borrowed(std::unordered_map<ObjectId, Borrowed>::iterator it, Actions& out) FERRY_REQUIRES(mu_);
  // covered / new -> registering: a new episode (borrow_adds).
  void start_registration(ObjectId id, Borrowed& b, Actions& out) FERRY_REQUIRES(mu_);
  LocateReply answer(ObjectId id, Owned& e, Rank reader) FERRY_REQUIRES(mu_);
  // Drops retired copies without leases; erases a released entry without leases.
  void settle(OwnedMap::iterator it, Actions& out) FERRY_REQUIRES(mu_);
  void release_locked(ObjectId id, Owned& e, Actions& out) FERRY_REQUIRES(mu_);
  Status not_found(ObjectId id) const;

  const Rank self_;
  const std::size_t inline_bytes_;
  mutable Mutex mu_;
  OwnedMap owned_ FERRY_GUARDED_BY(mu_);
  std::unordered_map<ObjectId, Borrowed> borrowed_ FERRY_GUARDED_BY(mu_);
  std::unordered_map<ObjectId, std::uint64_t> copies_ FERRY_GUARDED_BY(mu_);
  std::unordered_set<Rank> dead_ FERRY_GUARDED_BY(mu_);
  std::uint64_t next_lease_ FERRY_GUARDED_BY(mu_) = 1;
  std::uint64_t next_seq_ FERRY_GUARDED_BY(mu_) = 1;
  std::vector<ObjectId> unheld_ FERRY_GUARDED_BY(mu_);
  // hold_for: receiver -> id -> refs kept for it.
  std::unordered_map<Rank, std::unordered_map<ObjectId, std::uint32_t>> transfers_ FERRY_GUARDED_BY(mu_);
};

}  // namespace ferry::rt
