// tasks.cc — the task layer's frame (see tasks.h): the two roles, their
// outboxes and flusher, the handlers, peer failure and shutdown.
#include "tasks.h"

#include "actor_restart.h"
#include "task_protocol.h"

namespace ferry::rt {

Tasks::Tasks(CoreServices& core, unsigned threads) : core_(core) {
  flusher_ = std::make_unique<Flusher>([this] {
    GateGuard g(core_.gate());
    if (!g) return;
    submits_->flush_scheduled();
    dones_->flush_scheduled();
  });
  // Busy progress mode: whoever polls the transport next (its progress thread,
  // a waiting thread, an idle executor) sends scheduled batches in the
  // progress hook; no thread is woken per batch. Blocking mode: the flusher.
  auto wake = [this] {
    if (!core_.transport().request_progress_hook()) flusher_->wake();
  };
  auto failed = [this](Rank dst, const Status& why) { on_send_failed(dst, why); };
  submits_ = std::make_unique<Outbox>(core_.transport(), proto::kSubmit, nullptr, failed, wake);
  dones_ = std::make_unique<Outbox>(
      core_.transport(), proto::kDone, [this] { return executor_load(); }, failed, wake);
  auto flush = [this] {
    GateGuard g(core_.gate());
    if (g) flush_all();
  };
  // Records this rank submitted to itself complete without a message.
  auto local_done = [this](std::span<const Completion> batch) { owner_->complete(core_.rank(), batch); };
  exec_ = std::make_unique<TaskExecutor>(core_, threads, *dones_, local_done, flush, wake);
  owner_ = std::make_unique<TaskOwner>(core_, *submits_, *exec_);
  core_.transport().set_progress_hook([this] {
    GateGuard g(core_.gate());
    if (!g) return;
    submits_->flush_scheduled();
    dones_->flush_scheduled();
  });
}

Tasks::~Tasks() { stop(); }

void Tasks::install_handlers() {
  auto report = [this](const Status& s) {
    if (!s) core_.report(s);
  };
  report(core_.transport().set_handler(proto::kSubmit, [this](Rank src, ByteView p) {
    GateGuard g(core_.gate());
    if (g) exec_->on_submit(src, p);
  }));
  report(core_.transport().set_handler(proto::kDone, [this](Rank src, ByteView p) {
    GateGuard g(core_.gate());
    if (g) owner_->on_done(src, p);
  }));
  report(core_.transport().set_handler(proto::kActorUpdate, [this](Rank src, ByteView p) {
    GateGuard g(core_.gate());
    if (g) owner_->on_actor_update(src, p);
  }));
}

void Tasks::flush_all() {
  submits_->flush_all();
  dones_->flush_all();
}

void Tasks::on_send_failed(Rank dst, const Status& why) {
  GateGuard g(core_.gate());
  if (!g) return;
  if (why.code() == Errc::shut_down) return;
  owner_->send_failed(dst, why);
}

void Tasks::peer_failed(Rank peer, const Status& why) {
  owner_->mark_dead(peer);
  submits_->drop(peer);
  dones_->drop(peer);
  owner_->peer_failed(peer, why);
  exec_->peer_failed(peer, why);
}

bool Tasks::drain(std::chrono::steady_clock::time_point deadline) {
  return owner_->drain(deadline, [this] { flush_all(); });
}

void Tasks::stop() {
  if (!hook_cleared_.exchange(true)) core_.transport().set_progress_hook({});  // waits for a running call
  if (flusher_) flusher_->stop();
  if (exec_) exec_->stop();
}

}  // namespace ferry::rt
