// init.cc — ferry::init and ferry::Session (launcher layer: bootstrap + transport + Runtime).
//
// Session::State owns the bootstrap and the Runtime; the Runtime (which owns the transport) is
// shut down before the bootstrap is released, so an MPI bootstrap frees its duplicated
// communicator only after ferry's last message. Errors are Status values until the public entry
// points, which throw ferry::Error. Thread-safety: see ferry/init.h.
#include "ferry/init.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "ferry/launcher/bootstrap.h"
#include "ferry/transport/startup_profile.h"

namespace ferry {

struct Session::State {
  std::unique_ptr<transport::Bootstrap> bootstrap;
  std::unique_ptr<Runtime> runtime;
  std::string launcher;
  transport::Rank rank = 0, size = 0;
  bool shut_down = false;
};

namespace {

[[noreturn]] void throw_error(Errc code, const std::string& message) { throw Error(Status(code, message)); }

std::string where(const transport::Bootstrap& b, const std::string& launcher) {
  return "ferry::init on rank " + std::to_string(b.rank()) + "/" + std::to_string(b.size()) + " (launcher: " +
         launcher + ")";
}

}  // namespace

Session::Session() noexcept = default;
Session::Session(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Session::Session(Session&&) noexcept = default;

Session& Session::operator=(Session&& o) noexcept {
  if (this != &o) {
    if (state_ && !state_->shut_down) {
      try {
        shutdown();
      } catch (const std::exception& e) {
        spdlog::warn("ferry: shutting down the session replaced by assignment: {}", e.what());
      }
    }
    state_ = std::move(o.state_);
  }
  return *this;
}

Session::~Session() {
  if (!state_ || state_->shut_down) return;
  try {
    shutdown();
  } catch (const std::exception& e) {
    spdlog::warn("ferry[{}]: session shutdown in the destructor: {}", state_->rank, e.what());
  }
}

transport::Rank Session::rank() const {
  if (!state_) throw_error(Errc::invalid_argument, "ferry::Session::rank: empty (moved-from) session");
  return state_->rank;
}

transport::Rank Session::size() const {
  if (!state_) throw_error(Errc::invalid_argument, "ferry::Session::size: empty (moved-from) session");
  return state_->size;
}

Runtime& Session::runtime() const {
  if (!state_) throw_error(Errc::invalid_argument, "ferry::Session::runtime: empty (moved-from) session");
  if (state_->shut_down)
    throw_error(Errc::shut_down, "ferry::Session::runtime on rank " + std::to_string(state_->rank) +
                                     ": the session is shut down");
  return *state_->runtime;
}

const std::string& Session::launcher() const {
  if (!state_) throw_error(Errc::invalid_argument, "ferry::Session::launcher: empty (moved-from) session");
  return state_->launcher;
}

bool Session::is_shut_down() const noexcept { return !state_ || state_->shut_down; }

void Session::barrier() {
  if (!state_) throw_error(Errc::invalid_argument, "ferry::Session::barrier: empty (moved-from) session");
  if (state_->shut_down)
    throw_error(Errc::shut_down, "ferry::Session::barrier on rank " + std::to_string(state_->rank) +
                                     ": the session is shut down");
  if (Status s = state_->runtime->barrier(); !s)
    throw_error(s.code(), "ferry::Session::barrier on rank " + std::to_string(state_->rank) + ": " + s.message());
}

void Session::serve() {
  if (!state_ || state_->shut_down) return;
  state_->shut_down = true;
  Status s = state_->runtime->serve();
  state_->runtime.reset();
  state_->bootstrap.reset();
  if (!s) throw Error(s);
}

void Session::serve(transport::Rank driver) {
  if (!state_ || state_->shut_down) return;
  state_->shut_down = true;
  Status s = state_->runtime->serve(driver);
  state_->runtime.reset();
  state_->bootstrap.reset();
  if (!s) throw Error(s);
}

void Session::abort(const std::string& why) {
  if (!state_ || state_->shut_down) return;
  state_->shut_down = true;
  (void)state_->runtime->abort(Status(Errc::task_failed, why));
  state_->runtime.reset();
  state_->bootstrap.reset();
}

void Session::shutdown() {
  if (!state_ || state_->shut_down) return;
  state_->shut_down = true;
  transport::startup_mark(state_->rank, "shutdown_start");
  Status s = state_->runtime->shutdown();
  state_->runtime.reset();
  transport::startup_mark(state_->rank, "shutdown_done");
  state_->bootstrap.reset();  // after the runtime: an MPI bootstrap frees its communicator here
  if (!s) throw Error(s);
}

Session init(std::unique_ptr<transport::Bootstrap> bootstrap, std::string launcher) {
  if (!bootstrap) throw_error(Errc::invalid_argument, "ferry::init: the bootstrap is null");
  auto transport_options = transport::Options::from_env();
  if (!transport_options)
    throw_error(transport_options.status().code(),
                where(*bootstrap, launcher) + ": bad transport setting: " + transport_options.status().message());
  auto runtime_options = RuntimeOptions::from_env();
  if (!runtime_options)
    throw_error(runtime_options.status().code(),
                where(*bootstrap, launcher) + ": bad runtime setting: " + runtime_options.status().message());
  transport::startup_mark(bootstrap->rank(), "init_start");
  auto runtime = Runtime::create(*bootstrap, *transport_options, *runtime_options);
  transport::startup_mark(bootstrap->rank(), "runtime_up");
  if (!runtime)
    throw_error(runtime.status().code(), where(*bootstrap, launcher) + ": starting the runtime over the " +
                                             transport::to_string(transport_options->backend) +
                                             " transport failed: " + runtime.status().message());
  // Every rank's runtime is up before anyone returns: a rank may send tasks to a peer as soon as
  // init returns, and the peer must not still be inside Runtime::create.
  if (Status s = bootstrap->barrier(); !s) {
    (void)runtime.value()->shutdown();
    throw_error(s.code(), where(*bootstrap, launcher) + ": the barrier after starting the runtime failed: " +
                              s.message());
  }
  transport::startup_mark(bootstrap->rank(), "first_barrier");
  launcher::end_startup(*bootstrap);  // PMIx: so that srun keeps the step when a rank dies
  auto state = std::make_unique<Session::State>();
  state->rank = bootstrap->rank();
  state->size = bootstrap->size();
  state->bootstrap = std::move(bootstrap);
  state->runtime = std::move(runtime).value();
  state->launcher = std::move(launcher);
  return Session(std::move(state));
}

Session init() {
  auto detected = launcher::detect_launcher();
  if (!detected)
    throw_error(detected.status().code(), "ferry::init: detecting the launcher failed: " + detected.status().message());
  auto bootstrap = launcher::make_bootstrap();
  if (!bootstrap)
    throw_error(bootstrap.status().code(), "ferry::init (launcher: " + detected->description +
                                               "): the bootstrap failed: " + bootstrap.status().message());
  return init(std::move(bootstrap).value(), detected->description);
}

Session init(int& argc, char**& argv) {
  (void)argc;
  (void)argv;
  return init();
}

}  // namespace ferry
