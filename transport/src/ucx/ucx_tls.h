// ucx_tls.h — what a UCX_TLS setting lets UCX 1.13 choose (ucx_transport.cc).
//
// UCX_TLS is a comma-separated list of transport names or aliases, each
// optionally suffixed ":aux", or "^" followed by such a list to exclude; unset
// or empty means "all". Names are matched whole (so "sm" is the shared-memory
// alias, never a substring of "ib_sm..." or the like). Aliases understood:
// "all"; "sm"/"shm" (every shared-memory transport); "mm" (posix + sysv).
// Used to decide whether to ask UCX for shared-memory peer-failure handling,
// and whether UCX can only use TCP.
// Thread-safety: pure functions.
#pragma once

namespace ferry::transport::ucx {

// True if the setting (nullptr = unset) lets UCX pick posix or sysv shared memory.
bool tls_may_use_shm(const char* ucx_tls);

// True if the setting names tcp and otherwise at most self ("tcp", "tcp,self",
// "tcp:aux"): every endpoint to a peer runs over TCP, where UCX emulates a get
// with active messages (used to pick larger TCP segments).
// Unset, "all", exclusion lists and any other transport name -> false.
bool tls_is_tcp_only(const char* ucx_tls);

}  // namespace ferry::transport::ucx
