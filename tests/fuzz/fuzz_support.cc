// fuzz_support.cc — link stand-ins for the two Status formatters, which live in
// transport/src/common/transport.cc together with the backend factory (not linked
// into the fuzz targets). Only error texts use them; decoders never do.
#include <string>

#include "ferry/status.h"

namespace ferry {

const char* to_string(Errc) noexcept { return "error"; }

std::string Status::to_string() const { return is_ok() ? "ok" : message_; }

}  // namespace ferry
