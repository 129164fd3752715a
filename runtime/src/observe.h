// observe.h — starts and stops this rank's observability with its runtime
// (internal): the trace recorder (trace.h) and the metrics exporter.
//
// Exporter (one thread "ferry-metrics", only when one of these is set):
//   FERRY_METRICS=DIR         DIR/ferry-metrics.rank<R>.prom at shutdown and on
//                             SIGUSR1 (the handler only wakes the thread);
//   FERRY_METRICS_PORT=P      HTTP GET on port P+rank of FERRY_METRICS_ADDR
//                             (default 127.0.0.1) answers the Prometheus text;
//   FERRY_STATS_FILE=PATH     (set by ferry-run --progress) a one-line
//                             snapshot rewritten every 250 ms and at shutdown
//                             (write to PATH.tmp, then rename).
//
// Thread-safety: start/stop from the thread creating / shutting down the runtime.
#pragma once

#include <string>

#include "ferry/stats.h"
#include "ferry/status.h"

namespace ferry::rt {
class Core;
}

namespace ferry::rt::observe {

// The exporter and the trace are the process's: the first runtime to start()
// sets them up from its rank and the environment, the last one to stop() ends
// them (several runtimes share a process in the in-process tests). Thread-safe.
// After the core is initialised (before it accepts work). Errors name the variable.
[[nodiscard]] Status start(Core& core);
// Right after the start-up allgather returned (clock alignment of traces).
void started_sync() noexcept;
// At shutdown while the core can still report its stats: final files, trace
// written, exporter stopped. Errors are logged, never fatal.
void stop(Core& core);

double uptime_seconds() noexcept;

// The one-line form ferry-run reads ("ferry-stats 1 key=value ...").
std::string stats_line(const Stats& s, bool final);

}  // namespace ferry::rt::observe
