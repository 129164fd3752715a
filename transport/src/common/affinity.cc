// affinity.cc — the pure half of ferry/transport/affinity.h: FERRY_BIND parsing, the launcher's
// local layout, and make_plan(). No I/O, no globals (the hwloc half is affinity_apply.cc).
//
// Invariants: make_plan() returns bind == true only with slots.size() == threads and every slot a
//   non-empty PU list taken from `cores`.
// Thread-safety: all functions are reentrant.
#include "ferry/transport/affinity.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace ferry::transport::affinity {
namespace {

bool parse_uint(std::string_view s, unsigned& out) {
  if (s.empty()) return false;
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  out = v;
  return true;
}

Status bad(const std::string& what) { return Status(Errc::invalid_argument, "local rank layout: " + what); }

// SLURM_TASKS_PER_NODE "2(x3),1" -> {2,2,2,1}. Empty on a malformed value.
std::vector<unsigned> expand_tasks_per_node(std::string_view text) {
  std::vector<unsigned> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    unsigned count = 0, repeat = 1;
    const auto paren = item.find('(');
    if (paren != std::string_view::npos) {
      if (item.size() < paren + 4 || item.substr(paren, 2) != "(x" || item.back() != ')') return {};
      if (!parse_uint(item.substr(paren + 2, item.size() - paren - 3), repeat) || repeat == 0) return {};
      item = item.substr(0, paren);
    }
    if (!parse_uint(item, count) || out.size() + repeat > 100000) return {};
    out.insert(out.end(), repeat, count);
  }
  return out;
}

Result<LocalLayout> layout_pair(const char* rank_var, const char* rank_text, const char* size_var,
                                const char* size_text) {
  LocalLayout l;
  l.source = std::string(rank_var) + "/" + size_var;
  if (!size_text) return bad(std::string(rank_var) + " is set but " + size_var + " is not");
  if (!parse_uint(rank_text, l.rank)) return bad(std::string(rank_var) + "='" + rank_text + "' is not a number");
  if (!parse_uint(size_text, l.size) || l.size == 0)
    return bad(std::string(size_var) + "='" + size_text + "' is not a positive number");
  if (l.rank >= l.size)
    return bad(std::string(rank_var) + "=" + rank_text + " is not below " + size_var + "=" + size_text);
  return l;
}

}  // namespace

Result<BindMode> parse_bind_mode(std::string_view text) {
  if (text.empty() || text == "auto") return BindMode::automatic;
  if (text == "none") return BindMode::none;
  if (text == "cores") return BindMode::cores;
  return Status(Errc::invalid_argument,
                "FERRY_BIND='" + std::string(text) + "' is invalid: use none, cores or auto (the default)");
}

std::string_view to_string(BindMode mode) noexcept {
  switch (mode) {
    case BindMode::none: return "none";
    case BindMode::cores: return "cores";
    case BindMode::automatic: return "auto";
  }
  return "?";
}

unsigned oversubscription(const Getenv& getenv) {
  auto layout = local_layout_from_env(getenv);
  const unsigned local = layout ? std::max(1u, layout.value().size) : 1u;
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  const unsigned cpus = online > 0 ? static_cast<unsigned>(online) : 1u;
  return std::max(1u, (local + cpus - 1) / cpus);
}

Result<LocalLayout> local_layout_from_env(const Getenv& getenv) {
  if (const char* r = getenv("FERRY_LOCAL_RANK"))
    return layout_pair("FERRY_LOCAL_RANK", r, "FERRY_LOCAL_SIZE", getenv("FERRY_LOCAL_SIZE"));
  if (const char* r = getenv("OMPI_COMM_WORLD_LOCAL_RANK"))
    return layout_pair("OMPI_COMM_WORLD_LOCAL_RANK", r, "OMPI_COMM_WORLD_LOCAL_SIZE",
                       getenv("OMPI_COMM_WORLD_LOCAL_SIZE"));
  if (const char* r = getenv("SLURM_LOCALID")) {
    const char* tpn = getenv("SLURM_TASKS_PER_NODE");
    if (!tpn) return bad("SLURM_LOCALID is set but SLURM_TASKS_PER_NODE is not");
    const auto per_node = expand_tasks_per_node(tpn);
    if (per_node.empty()) return bad(std::string("SLURM_TASKS_PER_NODE='") + tpn + "' is malformed");
    unsigned node = 0;
    if (const char* n = getenv("SLURM_NODEID"); n && !parse_uint(n, node))
      return bad(std::string("SLURM_NODEID='") + n + "' is not a number");
    if (node >= per_node.size())
      return bad("SLURM_NODEID=" + std::to_string(node) + " but SLURM_TASKS_PER_NODE='" + tpn + "' lists " +
                 std::to_string(per_node.size()) + " node(s)");
    return layout_pair("SLURM_LOCALID", r, "SLURM_TASKS_PER_NODE", std::to_string(per_node[node]).c_str());
  }
  return LocalLayout{};
}

std::string format_cpus(const CpuList& cpus) {
  CpuList s = cpus;
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j + 1 < s.size() && s[j + 1] == s[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(s[i]);
    if (j > i) out += "-" + std::to_string(s[j]);
    i = j + 1;
  }
  return out;
}

Plan make_plan(BindMode mode, const std::vector<CpuList>& cores, const LocalLayout& layout, unsigned threads) {
  Plan p;
  p.mode = mode;
  threads = std::max(threads, 1u);
  const std::size_t c = cores.size(), l = std::max(layout.size, 1u);
  const std::string shape = std::to_string(l) + " local rank(s) x " + std::to_string(threads) +
                            " thread(s) on " + std::to_string(c) + " core(s)";
  if (mode == BindMode::none) {
    p.reason = "FERRY_BIND=none";
    return p;
  }
  if (c == 0 || std::any_of(cores.begin(), cores.end(), [](const CpuList& x) { return x.empty(); })) {
    p.reason = "no usable core list (topology unavailable)";
    return p;
  }
  const bool oversubscribed = l * threads > c;
  if (mode == BindMode::automatic && oversubscribed) {
    p.reason = "auto: oversubscribed, " + shape + "; threads left unbound (FERRY_BIND=cores forces binding)";
    return p;
  }
  const std::size_t r = layout.rank % l;
  std::vector<std::size_t> block;
  if (l <= c) {
    const std::size_t b = c / l;
    for (std::size_t i = 0; i < b; ++i) block.push_back(r * b + i);
  } else {
    block.push_back(r % c);
  }
  for (unsigned t = 0; t < threads; ++t) p.slots.push_back(cores[block[t % block.size()]]);
  p.bind = true;
  p.reason = std::string(mode == BindMode::automatic ? "auto" : "cores") + ": " + shape +
             (oversubscribed ? ", oversubscribed: threads share cores" : ", one core per thread");
  return p;
}

std::string Plan::describe() const {
  std::string out = "FERRY_BIND=" + std::string(to_string(mode)) + ": " + (bind ? "binding" : "not binding") +
                    " (" + reason + ")";
  for (std::size_t t = 0; t < slots.size(); ++t)
    out += "\n  " + std::string(t == 0 ? "progress thread " : "executor thread ") +
           (t == 0 ? "" : std::to_string(t - 1) + " ") + "-> PU " + format_cpus(slots[t]);
  return out;
}

}  // namespace ferry::transport::affinity
