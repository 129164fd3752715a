#!/usr/bin/env bash
# deps.sh — install every Debian 12 package ferry builds, tests and benchmarks with.
set -euo pipefail
SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
PKGS=(
  g++ cmake ninja-build pkg-config python3 iproute2 iputils-ping     # toolchain, scripts
  libucx-dev ucx-utils libibverbs-dev ibverbs-utils libhwloc-dev hwloc # transport, devices, topology
  libpmix-dev openmpi-bin libopenmpi-dev                              # PMIx, MPI interop and baselines
  munge slurmctld slurmd slurm-client                                 # one-node Slurm for srun tests
  libasio-dev libcereal-dev libcli11-dev libspdlog-dev libfmt-dev     # header libraries
  catch2 libbenchmark-dev                                             # tests, benchmarks
  zlib1g-dev                                                          # shuffle/: record checksums (CRC-32)
  rapidjson-dev                                                       # ferry-trace (merging traces)
  clang util-linux                                                    # thread-safety analysis; nsenter/unshare
  libssl-dev                                                          # job key (HMAC, RAND_bytes)
  clang-14 libclang-rt-14-dev                                         # fuzz targets, sanitizers, thread-safety analysis
  lld                                                                 # faster links of the build (CMake: FERRY_USE_LLD)
  valgrind                                                            # bench/trace-overhead.sh: callgrind counts (and its header)
)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps: all ${#PKGS[@]} packages present"
