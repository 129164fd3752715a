#!/usr/bin/env bash
# ucx_tcp_packet.sh — attempted reproducer of UCX 1.13's tcp-transport abort (a UCX bug, outside ferry).
#
#   bash tests/security/ucx_tcp_packet.sh [BUILD_DIR]      (loopback / this host only; bounded)
#
# Runs the hidden case "[ucx-crash]" of ferry_security (test_listeners.cc): a 2-rank UCX job with
# UCX_TLS=tcp in one process; each of UCX's listening sockets gets 13 bytes, UCX's tcp magic
# number followed by an active-message header {u8 id 64 (UCX's connection-management id),
# u32 length 0}: a connection packet too short to hold its event field. Exit status 134 (SIGABRT
# from UCX's assertion) would reproduce the bug; Debian's UCX 1.13 build on the development
# machine survived this packet and AM id 0 (its debug assertions are likely compiled out), so
# FERRY_UCX_PKT_AM_ID=N tries another id.
# Mitigation (docs/ARCHITECTURE.md, "Security"): on one node ferry does not enable UCX's tcp
# transport unless UCX_TLS asks for it (security."listeners: a one-node UCX job ..." shows there is
# then no port to send this to); across nodes restrict UCX to the fabric with UCX_NET_DEVICES and
# keep that network closed to untrusted hosts.
set -uo pipefail
build=${1:-build}
timeout 120 "$build/tests/security/ferry_security" "[ucx-crash]" 2>&1 | tail -20
rc=${PIPESTATUS[0]}
echo "reproducer: exit status $rc ($( ((rc == 134)) && echo 'UCX aborted the process: reproduced' || echo 'not reproduced by this UCX build'))"
