// actor_restart.h — the caller side of actor fault tolerance (internal;
// TaskOwner members in actor_restart.cc, wire form below).
//
// Every rank keeps an ActorBook: where each actor it heard of lives now
// (incarnation, host) and whether it is dead. Only actors that moved or died
// have an entry; the others live on ActorId::host, incarnation 0.
// The creator of an actor with max_restarts > 0 also keeps its constructor
// (entry, a copy of the arguments, a reference on each ref among them) in
// `owned`. When the creator learns that the host died it decides: restart
// (incarnation + 1 on a live rank: a create record with seq 0, then its own
// lost calls) or death (actor_died); it tells every live rank with a
// kActorUpdate message. A call in flight on a dead host is *lost*: it is
// resubmitted to the new incarnation (max_task_retries, keeping its result id,
// so it is delivered once), failed (no retries left, actor dead), or parked
// in `lost` until the creator's verdict arrives (or the creator dies).
//
// Invariants (under TaskOwner::seq_mu_): a call pending in TaskOwner::pending_ with
//   an ActorCall whose incarnation is older than the book's was either
//   resubmitted or failed by whoever raised the incarnation, or will be when
//   it finds that out (call_actor re-checks after registering its call);
//   sequence numbers of one (caller, actor, incarnation) are contiguous from
//   0 (from 1 for the creator, whose create is 0).
// Lock order: seq_mu_ -> pend_mu_; neither is held while calling the Core or
//   the transport.
//
// Wire form: actor_protocol.h (kActorUpdate).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actor_protocol.h"
#include "ferry/detail/task_api.h"
#include "task_owner.h"

namespace ferry::rt {

// A copy of submission arguments that can be sent again (value bytes owned).
struct SavedArgs {
  std::vector<detail::ArgSpec> specs;
  std::vector<std::shared_ptr<const transport::Bytes>> blobs;  // backing the specs' value bytes

  static SavedArgs copy(std::span<const detail::ArgSpec> args);
};

// Attached to a pending actor call or (re-)create.
struct ActorCall {
  detail::ActorId actor;
  std::uint64_t incarnation = 0;
  std::uint64_t seq = 0;
  std::uint32_t retries_left = 0;
  bool is_create = false;
  std::shared_ptr<const SavedArgs> args;  // set when the call may be resubmitted
};

struct ActorWhere {
  Rank host = 0;
  std::uint64_t incarnation = 0;
  Status dead;  // not ok: the actor is dead (actor_died), calls fail with it
};

struct ActorBook {
  struct Owned {
    const detail::RegistryEntry* cls = nullptr;
    detail::ActorId id;
    std::shared_ptr<const SavedArgs> args;
    std::vector<ObjectId> held;  // refs among the arguments, kept while it may restart
    std::uint32_t restarts = 0;
    bool over = false;           // killed or dead: never restarted again
  };
  std::map<ActorKey, ActorWhere> where;
  std::map<ActorKey, Owned> owned;
  std::map<ActorKey, std::vector<TaskOwner::Reroute>> lost;  // calls waiting for the creator's verdict
};

}  // namespace ferry::rt
