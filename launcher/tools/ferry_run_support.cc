// ferry_run_support.cc — program lookup, rank environments and line forwarding for ferry-run.
// See ferry_run_support.h for the contracts.
#include "ferry_run_support.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace ferry::run {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Checks one candidate path; sets `why` when it exists but cannot be run.
bool executable_file(const std::string& path, std::string& why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    why = std::strerror(errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    why = "is a directory";
    return false;
  }
  if (::access(path.c_str(), X_OK) != 0) {
    why = "is not executable (chmod +x?)";
    return false;
  }
  return true;
}

}  // namespace

bool resolve_program(const std::string& program, std::string& path, std::string& error) {
  if (program.empty()) {
    error = "empty program name";
    return false;
  }
  std::string why;
  if (program.find('/') != std::string::npos) {
    if (executable_file(program, why)) {
      path = program;
      return true;
    }
    error = "'" + program + "': " + why;
    return false;
  }
  const char* env_path = std::getenv("PATH");
  const std::string search = env_path ? env_path : "/usr/local/bin:/usr/bin:/bin";
  std::string first_problem;
  std::size_t begin = 0;
  while (begin <= search.size()) {
    std::size_t end = search.find(':', begin);
    if (end == std::string::npos) end = search.size();
    std::string dir = search.substr(begin, end - begin);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (executable_file(candidate, why)) {
      path = candidate;
      return true;
    }
    if (first_problem.empty() && why != std::strerror(ENOENT)) first_problem = "'" + candidate + "' " + why;
    begin = end + 1;
  }
  error = "'" + program + "': not found in PATH" + (first_problem.empty() ? "" : " (" + first_problem + ")") +
          "; give a path such as ./" + program;
  return false;
}

bool is_stripped_variable(const std::string& name, bool transport_given) {
  if (starts_with(name, "PMIX_") || starts_with(name, "PMI_")) return true;
  if (starts_with(name, "OMPI_"))
    return name != "OMPI_ALLOW_RUN_AS_ROOT" && name != "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM";
  static const char* const kOwn[] = {"FERRY_RENDEZVOUS_DIR", "FERRY_RANK",       "FERRY_SIZE",
                                     "FERRY_LOCAL_RANK",     "FERRY_LOCAL_SIZE", "FERRY_BOOTSTRAP"};
  for (const char* own : kOwn)
    if (name == own) return true;
  return transport_given && name == "FERRY_TRANSPORT";
}

void add_malloc_huge_pages(std::vector<std::string>& env) {
  auto value_of = [&](const std::string& name) -> std::string* {
    for (std::string& e : env)
      if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') return &e;
    return nullptr;
  };
  if (const std::string* t = value_of("FERRY_MALLOC_TUNING")) {
    const std::string v = t->substr(t->find('=') + 1);
    if (v == "n" || v == "0" || v == "no") return;
  }
  constexpr const char* kHuge = "glibc.malloc.hugetlb=1";
  std::string* tunables = value_of("GLIBC_TUNABLES");
  if (!tunables) {
    env.push_back(std::string("GLIBC_TUNABLES=") + kHuge);
  } else if (tunables->find("glibc.malloc.hugetlb") == std::string::npos) {
    const bool empty = tunables->size() == std::string("GLIBC_TUNABLES=").size();
    tunables->append(empty ? "" : ":").append(kHuge);
  }
}

std::vector<std::string> rank_environment(char** base, const std::string& rendezvous_dir, unsigned rank,
                                          unsigned size, const std::string& transport) {
  std::vector<std::string> out;
  for (char** e = base; e && *e; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (!is_stripped_variable(name, !transport.empty())) out.push_back(std::move(entry));
  }
  out.push_back("FERRY_RENDEZVOUS_DIR=" + rendezvous_dir);
  out.push_back("FERRY_RANK=" + std::to_string(rank));
  out.push_back("FERRY_SIZE=" + std::to_string(size));
  out.push_back("FERRY_LOCAL_RANK=" + std::to_string(rank));
  out.push_back("FERRY_LOCAL_SIZE=" + std::to_string(size));
  if (!transport.empty()) out.push_back("FERRY_TRANSPORT=" + transport);
  add_malloc_huge_pages(out);
  return out;
}

void write_all(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EPIPE etc.: the reader is gone; drop the output
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
}

void LineForwarder::emit(const char* data, std::size_t len) {
  std::string line;
  line.reserve(prefix_.size() + len + 1);
  line.append(prefix_).append(data, len).push_back('\n');
  write_all(out_fd_, line.data(), line.size());
}

void LineForwarder::feed(const char* data, std::size_t len) {
  if (prefix_.empty()) {  // untagged: pass through, no buffering
    write_all(out_fd_, data, len);
    return;
  }
  pending_.append(data, len);
  std::size_t start = 0;
  for (;;) {
    std::size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    emit(pending_.data() + start, nl - start);
    start = nl + 1;
  }
  while (pending_.size() - start >= kMaxLine) {  // a very long line: forward it in pieces
    emit(pending_.data() + start, kMaxLine);
    start += kMaxLine;
  }
  pending_.erase(0, start);
}

void LineForwarder::finish() {
  if (!pending_.empty()) emit(pending_.data(), pending_.size());
  pending_.clear();
}

}  // namespace ferry::run
