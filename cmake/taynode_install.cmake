# Install the headers and an exported CMake package: find_package(taynode CONFIG).
# Included from the top-level CMakeLists.txt (so CMAKE_CURRENT_SOURCE_DIR is the project root).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TAYNODE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_DATADIR}/cmake/taynode
    CACHE STRING "Where to install taynode's CMake package files (relative to the prefix)")

install(TARGETS taynode EXPORT taynodeTargets)
# The optional targets this build has (taynode::threads, ::cuda, ::nccl, ::mpi) are exported too;
# the package config finds their dependencies (TAYNODE_EXPORTED_* below).
foreach(part ${TAYNODE_OPTIONAL_PARTS})
  string(TOUPPER ${part} PART)
  if(TARGET taynode_${part})
    install(TARGETS taynode_${part} EXPORT taynodeTargets)
    set(TAYNODE_EXPORTED_${PART} ON)
  else()
    set(TAYNODE_EXPORTED_${PART} OFF)
  endif()
endforeach()
# Headers only: no build markers or notes that may sit beside them.
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h" PATTERN "*.cuh" PATTERN "*.inl")
install(EXPORT taynodeTargets NAMESPACE taynode::
        DESTINATION ${TAYNODE_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/taynodeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfig.cmake
  INSTALL_DESTINATION ${TAYNODE_INSTALL_CMAKEDIR})
# Header-only: any architecture may use it.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/taynodeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/taynodeConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/taynode_instances.cmake
        DESTINATION ${TAYNODE_INSTALL_CMAKEDIR})
