// affinity_probe — starts ferry (ferry::init: transport progress thread + runtime executor threads),
// then reads every thread's CPU mask from /proc/self/task/*/status and checks it against EXPECT:
//   bound     the process plan binds, and each ferry thread's kernel mask is exactly its plan slot
//             (progress thread = slot 0, executor threads = one of slots 1..T-1), and at least one
//             executor thread was seen;
//   unbound   the plan does not bind, and every ferry thread still has the main thread's mask;
//   auto-fits like bound, but exits 77 (skip) when the process has fewer than 2 usable cores.
// Prints "rank R/S: progress PU <list>" and "rank R/S: affinity <EXPECT> ok"; exit 1 on a mismatch.
// Threads are recognised by the names bind_this_thread() gives them (ferry-progress, ferry-exec).
#include <dirent.h>

#include <cstdio>
#include <chrono>
#include <fstream>
#include <thread>
#include <set>
#include <string>
#include <vector>

#include "ferry/init.h"
#include "ferry/transport/affinity.h"

namespace af = ferry::transport::affinity;

namespace {

struct ThreadInfo {
  std::string name, cpus;
};

std::string read_line_with(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) {
      auto v = line.substr(prefix.size());
      return v.substr(v.find_first_not_of(" \t"));
    }
  return "";
}

std::vector<ThreadInfo> threads() {
  std::vector<ThreadInfo> out;
  DIR* d = opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::string name;
    std::getline(std::ifstream(base + "/comm"), name);
    out.push_back({name, read_line_with(base + "/status", "Cpus_allowed_list:")});
  }
  closedir(d);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string expect = argc > 1 ? argv[1] : "";
  if (expect != "bound" && expect != "unbound" && expect != "auto-fits") {
    std::fprintf(stderr, "usage: affinity_probe bound|unbound|auto-fits\n");
    return 2;
  }
  const std::string main_mask = read_line_with("/proc/self/status", "Cpus_allowed_list:");
  ferry::Session s = ferry::init(argc, argv);
  const std::string me = "rank " + std::to_string(s.rank()) + "/" + std::to_string(s.size()) + ": ";
  const auto& pp = af::process_plan();
  if (!pp) {
    std::fprintf(stderr, "%sFAILED: %s\n", me.c_str(), pp.status().to_string().c_str());
    return 1;
  }
  const af::Plan& plan = pp.value().plan;
  std::printf("%s%s\n", me.c_str(), plan.describe().c_str());
  if (expect == "auto-fits" && pp.value().cores.size() < 2) {
    std::printf("SKIP: auto-fits needs 2 usable cores, this process has %zu\n", pp.value().cores.size());
    s.shutdown();
    return 77;
  }
  const bool want_bound = expect != "unbound";
  int bad = 0, progress = 0, executors = 0;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "%sFAILED: %s\n", me.c_str(), what.c_str());
    ++bad;
  };
  if (plan.bind != want_bound) fail(std::string("plan ") + (plan.bind ? "binds" : "does not bind") + ": " + plan.reason);
  std::set<std::string> exec_slots;
  for (std::size_t t = 1; t < plan.slots.size(); ++t) exec_slots.insert(af::format_cpus(plan.slots[t]));
  // The threads name themselves after binding; wait (bounded) until they have started.
  std::vector<ThreadInfo> seen;
  for (int i = 0; i < 500; ++i) {
    seen = threads();
    int p = 0, e = 0;
    for (const auto& t : seen) {
      p += t.name == "ferry-progress";
      e += t.name == "ferry-exec";
    }
    if (p >= 1 && e >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const auto& t : seen) {
    const bool is_progress = t.name == "ferry-progress", is_exec = t.name == "ferry-exec";
    if (!is_progress && !is_exec) continue;
    (is_progress ? progress : executors)++;
    if (is_progress) std::printf("%sprogress PU %s\n", me.c_str(), t.cpus.c_str());
    if (!want_bound) {
      if (t.cpus != main_mask) fail(t.name + " has mask " + t.cpus + ", expected the process mask " + main_mask);
    } else if (plan.bind) {
      const bool ok = is_progress ? t.cpus == af::format_cpus(plan.slots[0]) : exec_slots.count(t.cpus) > 0;
      if (!ok) fail(t.name + " has mask " + t.cpus + ", not its plan slot");
    }
  }
  if (progress != 1) fail("expected 1 ferry-progress thread, saw " + std::to_string(progress));
  if (executors == 0) fail("no ferry-exec thread seen (executor thread start hook missing?)");
  s.shutdown();
  if (bad) return 1;
  std::printf("%saffinity %s ok\n", me.c_str(), expect.c_str());
  return 0;
}
