# Install the headers and an exported CMake package: find_package(taynode CONFIG).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS taynode EXPORT taynodeTargets)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT taynodeTargets NAMESPACE taynode::
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/taynode)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/taynodeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/taynode)
# Header-only: any architecture may use it.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/taynodeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/taynode)
