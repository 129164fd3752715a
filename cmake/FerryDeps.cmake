# Dependencies, found the same way here and in the installed ferryConfig.cmake.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(UCX REQUIRED IMPORTED_TARGET ucx)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)  # thread binding (transport affinity)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # job key: RAND_bytes, HMAC, CRYPTO_memcmp
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
if(FERRY_WITH_PMIX)
  pkg_check_modules(PMIX REQUIRED IMPORTED_TARGET pmix)
endif()
if(FERRY_WITH_MPI)
  find_package(MPI REQUIRED COMPONENTS CXX)
endif()
