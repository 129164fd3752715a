// ferry-trace — merge the per-rank timeline files of a FERRY_TRACE=DIR run into one Chrome
// Trace Event file that Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
//   ferry-trace merge DIR [-o job.json]        (default: standard output)
//
// Reads every DIR/ferry-trace.rank<R>.json, then:
//   * clocks: ranks whose boot id is the same share CLOCK_MONOTONIC and are not shifted;
//     otherwise rank r is shifted by sync_0 - sync_r, its start-up barrier exit time against
//     rank 0's (all ranks leave that barrier together, to within its exit skew);
//   * timestamps are made relative to the earliest event of the job (the job starts at 0);
//   * flows: an object read by several readers has one flow start ("s") per rank file and one
//     end ("f") per read; each extra read gets a copy of the start under a new id, so every
//     read is linked to the object's creation. Starts or ends without a partner (an object
//     created before tracing began, or never read) are dropped and counted on stderr;
//   * events are written in time order (metadata first).
// Exit status: 0 on success, 1 on unreadable or malformed input, 2 for usage errors.
#include <rapidjson/document.h>
#include <rapidjson/filereadstream.h>
#include <rapidjson/filewritestream.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

namespace fs = std::filesystem;
using rapidjson::Document;
using rapidjson::Value;

struct RankFile {
  unsigned rank = 0;
  std::string path, boot_id;
  double sync_us = 0;
  Document doc;
};

bool load(const fs::path& p, RankFile& out, std::string& err) {
  std::FILE* f = std::fopen(p.c_str(), "r");
  if (!f) {
    err = p.string() + ": " + std::strerror(errno);
    return false;
  }
  char buf[1 << 16];
  rapidjson::FileReadStream in(f, buf, sizeof buf);
  out.doc.ParseStream(in);
  std::fclose(f);
  if (out.doc.HasParseError()) {
    err = p.string() + ": not JSON (parse error at byte " + std::to_string(out.doc.GetErrorOffset()) + ")";
    return false;
  }
  if (!out.doc.IsObject() || !out.doc.HasMember("ferry") || !out.doc["ferry"].IsObject() ||
      !out.doc.HasMember("traceEvents") || !out.doc["traceEvents"].IsArray()) {
    err = p.string() + ": not a ferry rank trace (no \"ferry\" metadata or \"traceEvents\")";
    return false;
  }
  const Value& m = out.doc["ferry"];
  if (!m.HasMember("rank") || !m["rank"].IsUint() || !m.HasMember("sync_us") || !m["sync_us"].IsNumber() ||
      !m.HasMember("boot_id") || !m["boot_id"].IsString()) {
    err = p.string() + ": incomplete \"ferry\" metadata (rank, sync_us, boot_id)";
    return false;
  }
  out.rank = m["rank"].GetUint();
  out.sync_us = m["sync_us"].GetDouble();
  out.boot_id = m["boot_id"].GetString();
  out.path = p.string();
  return true;
}

bool is_flow(const Value& e, char ph) {
  return e.HasMember("ph") && e["ph"].IsString() && e["ph"].GetString()[0] == ph && e["ph"].GetStringLength() == 1 &&
         e.HasMember("cat") && e["cat"].IsString() && std::strcmp(e["cat"].GetString(), "flow") == 0 &&
         e.HasMember("id") && e["id"].IsString();
}

double ts_of(const Value& e) { return e.HasMember("ts") && e["ts"].IsNumber() ? e["ts"].GetDouble() : 0.0; }

int usage() {
  std::fputs("usage: ferry-trace merge DIR [-o FILE]\n"
             "  merges DIR/ferry-trace.rank<R>.json (written by a FERRY_TRACE=DIR run) into one\n"
             "  Chrome Trace Event file for Perfetto or chrome://tracing\n",
             stderr);
  return 2;
}

// Rewrites object flows so that each end has its own start; drops unpartnered ones.
void link_flows(std::vector<Value*>& events, Document::AllocatorType& alloc, std::vector<Value>& extra,
                std::size_t& dropped) {
  std::unordered_map<std::string, std::vector<Value*>> starts, ends;
  for (Value* e : events) {
    if (is_flow(*e, 's')) starts[(*e)["id"].GetString()].push_back(e);
    else if (is_flow(*e, 'f')) ends[(*e)["id"].GetString()].push_back(e);
  }
  std::uint64_t next_id = 0x3000000000000000ull;
  std::vector<const Value*> drop;
  for (auto& [id, s] : starts) {
    auto it = ends.find(id);
    if (it == ends.end() || s.size() != 1) {  // never read, or an ambiguous start
      drop.insert(drop.end(), s.begin(), s.end());
      if (it != ends.end()) drop.insert(drop.end(), it->second.begin(), it->second.end());
      continue;
    }
    for (std::size_t i = 1; i < it->second.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%" PRIx64, next_id++);
      Value copy(*s[0], alloc);
      copy["id"].SetString(buf, alloc);
      (*it->second[i])["id"].SetString(buf, alloc);
      extra.push_back(std::move(copy));
    }
  }
  for (auto& [id, f] : ends)
    if (!starts.count(id)) drop.insert(drop.end(), f.begin(), f.end());
  dropped = drop.size();
  std::sort(drop.begin(), drop.end());
  std::erase_if(events, [&](Value* e) { return std::binary_search(drop.begin(), drop.end(), e); });
}

int merge(const std::string& dir, const std::string& out_path) {
  std::vector<RankFile> ranks;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ferry-trace.rank", 0) != 0 || entry.path().extension() != ".json") continue;
    RankFile r;
    std::string err;
    if (!load(entry.path(), r, err)) {
      std::fprintf(stderr, "ferry-trace: %s\n", err.c_str());
      return 1;
    }
    ranks.push_back(std::move(r));
  }
  if (ec || ranks.empty()) {
    std::fprintf(stderr, "ferry-trace: no ferry-trace.rank<R>.json files in %s%s%s\n", dir.c_str(),
                 ec ? ": " : "", ec ? ec.message().c_str() : "");
    return 1;
  }
  std::sort(ranks.begin(), ranks.end(), [](const RankFile& a, const RankFile& b) { return a.rank < b.rank; });
  const bool shared_clock = std::all_of(ranks.begin(), ranks.end(), [&](const RankFile& r) {
    return !r.boot_id.empty() && r.boot_id == ranks[0].boot_id;
  });
  Document out;
  out.SetObject();
  auto& alloc = out.GetAllocator();
  std::vector<Value*> events;
  std::vector<double> offsets;
  for (RankFile& r : ranks) {
    const double off = shared_clock ? 0.0 : ranks[0].sync_us - r.sync_us;
    offsets.push_back(off);
    for (Value& e : r.doc["traceEvents"].GetArray()) {
      if (off != 0.0 && e.HasMember("ts") && e["ts"].IsNumber()) e["ts"].SetDouble(e["ts"].GetDouble() + off);
      events.push_back(&e);
    }
  }
  std::vector<Value> extra;
  extra.reserve(events.size());  // pointers into it stay valid
  std::size_t dropped = 0;
  link_flows(events, alloc, extra, dropped);
  for (Value& e : extra) events.push_back(&e);
  double t0 = -1;
  for (const Value* e : events)
    if (e->HasMember("ts") && (t0 < 0 || ts_of(*e) < t0)) t0 = ts_of(*e);
  auto meta = [](const Value* e) { return e->HasMember("ph") && std::strcmp((*e)["ph"].GetString(), "M") == 0; };
  std::stable_sort(events.begin(), events.end(), [&](const Value* a, const Value* b) {
    if (meta(a) != meta(b)) return meta(a);
    return ts_of(*a) < ts_of(*b);
  });
  std::FILE* f = out_path.empty() ? stdout : std::fopen(out_path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "ferry-trace: cannot write %s: %s\n", out_path.c_str(), std::strerror(errno));
    return 1;
  }
  char buf[1 << 16];
  rapidjson::FileWriteStream os(f, buf, sizeof buf);
  rapidjson::Writer<rapidjson::FileWriteStream> w(os);
  w.StartObject();
  w.Key("displayTimeUnit");
  w.String("ns");
  w.Key("ferry");
  w.StartObject();
  w.Key("ranks");
  w.Uint(static_cast<unsigned>(ranks.size()));
  w.Key("clock");
  w.String(shared_clock ? "shared (one boot id)" : "aligned at the start-up barrier");
  w.Key("offsets_us");
  w.StartArray();
  for (double o : offsets) w.Double(o);
  w.EndArray();
  w.Key("origin_us");
  w.Double(t0 < 0 ? 0 : t0);
  w.Key("unlinked_flow_events");
  w.Uint64(dropped);
  w.EndObject();
  w.Key("traceEvents");
  w.StartArray();
  for (Value* e : events) {
    if (t0 > 0 && e->HasMember("ts")) (*e)["ts"].SetDouble(ts_of(*e) - t0);
    e->Accept(w);
    os.Put('\n');
  }
  w.EndArray();
  w.EndObject();
  os.Put('\n');
  os.Flush();
  const bool ok = std::fflush(f) == 0 && !std::ferror(f);
  if (f != stdout) std::fclose(f);
  if (!ok) {
    std::fprintf(stderr, "ferry-trace: write error\n");
    return 1;
  }
  std::fprintf(stderr, "ferry-trace: merged %zu rank(s), %zu events, clock %s, %zu unlinked flow event(s) dropped\n",
               ranks.size(), events.size(), shared_clock ? "shared" : "aligned", dropped);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], "merge") != 0) return usage();
  std::string out;
  if (argc == 5 && std::strcmp(argv[3], "-o") == 0) out = argv[4];
  else if (argc != 3) return usage();
  return merge(argv[2], out);
}
