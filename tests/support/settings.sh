# settings.sh — sourced by the multi-process test scripts: the transport settings of the test matrix
# (the same three as the CMake matrices: UCX over TCP, UCX over shared memory, the TCP backend).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../support/settings.sh"
#   ferry_transport_setting "$tl"     # tl: ucx-tcp | ucx-shm | tcp
#
# ferry_transport_setting exports FERRY_TRANSPORT (and UCX_TLS for UCX); an unknown setting prints
# the valid ones and exits the script with 2 (a usage error, not a skip).
ferry_transport_setting() {
  case $1 in
    ucx-tcp) export FERRY_TRANSPORT=ucx UCX_TLS=tcp ;;
    ucx-shm) export FERRY_TRANSPORT=ucx UCX_TLS=posix,sysv,cma,self ;;
    tcp)     export FERRY_TRANSPORT=tcp ;;
    *) echo "unknown transport setting '$1' (ucx-tcp, ucx-shm or tcp)" >&2; exit 2 ;;
  esac
}
