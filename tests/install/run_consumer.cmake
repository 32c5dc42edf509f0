# cmake -P script behind the install:* tests.
# Inputs (-D): MODE (find_package | add_subdirectory), TAYNODE_SOURCE_DIR, TAYNODE_BINARY_DIR,
# CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR, CXX_COMPILER, BUILD_TYPE; EXPECT_TARGETS (find_package:
# the optional targets, comma-separated, that the installed package must define).
cmake_minimum_required(VERSION 3.25)

foreach(var MODE TAYNODE_SOURCE_DIR TAYNODE_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR
            CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

if(NOT BUILD_TYPE)   # single-config generator without CMAKE_BUILD_TYPE
  set(BUILD_TYPE Release)
endif()

function(run_step what)
  message(STATUS "[${MODE}] ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${what} failed (${rc})")
  endif()
endfunction()

# A fresh work area every run: no state from an earlier run can make the test pass.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(build ${WORK_DIR}/build)

set(configure_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                   -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  run_step("install" ${CMAKE_COMMAND} --install ${TAYNODE_BINARY_DIR} --prefix ${prefix}
                     --config ${BUILD_TYPE})
  # Only the prefix (and the system, for Eigen) is searched: the source tree is not visible.
  run_step("configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR}/consumer -B ${build}
                       ${configure_args} -DCMAKE_PREFIX_PATH=${prefix}
                       -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
                       "-DTAYNODE_EXPECT_TARGETS=${EXPECT_TARGETS}")
  set(headers ${prefix}/include/taynode)
  if(NOT EXISTS ${headers}/jet.hpp)
    message(FATAL_ERROR "[${MODE}] ${headers}/jet.hpp was not installed")
  endif()
elseif(MODE STREQUAL "add_subdirectory")
  run_step("configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR}/consumer_subdir -B ${build}
                       ${configure_args} -DTAYNODE_DIR_FOR_CONSUMER=${TAYNODE_SOURCE_DIR})
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

run_step("build" ${CMAKE_COMMAND} --build ${build} --config ${BUILD_TYPE})

# Single- and multi-config generators put the executable in different places.
set(exe "")
foreach(candidate ${build}/taynode_consumer ${build}/${BUILD_TYPE}/taynode_consumer)
  if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
    set(exe ${candidate})
    break()
  endif()
endforeach()
if(NOT exe)
  message(FATAL_ERROR "[${MODE}] taynode_consumer was not built")
endif()
run_step("run" ${exe})
