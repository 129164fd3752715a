# Install + export so that an installed copy works with find_package(ferry).
include(CMakePackageConfigHelpers)
set(_ferry_targets ferry_transport ferry_objstore ferry_runtime ferry_launcher)
if(TARGET ferry_launcher_mpi)
  list(APPEND _ferry_targets ferry_launcher_mpi)
endif()
install(TARGETS ${_ferry_targets} EXPORT ferryTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ferryTargets NAMESPACE ferry:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)
configure_package_config_file(cmake/ferryConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/ferryConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/ferryConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ferryConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/ferryConfigVersion.cmake
  cmake/FerryDeps.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)

# pkg-config (static libraries: use `pkg-config --static --libs ferry`).
set(FERRY_PC_PMIX "")
if(FERRY_WITH_PMIX)
  set(FERRY_PC_PMIX "pmix")
endif()
# Relocatable: the prefix is found from the .pc file's own location.
file(RELATIVE_PATH FERRY_PC_UP /r/${CMAKE_INSTALL_LIBDIR}/pkgconfig /r)
configure_file(cmake/ferry.pc.in ${CMAKE_CURRENT_BINARY_DIR}/ferry.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ferry.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
