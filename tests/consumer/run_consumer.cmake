# Configures and builds tests/consumer/project as a downstream user would, in one of three modes:
#   add_subdirectory  - the consumer vendors the source tree
#   find_package      - the consumer finds this build tree (rscovlm_DIR)
#   single_header     - the consumer only has single_include/ (plus the system dependencies)
# then runs the consumer program.
file(REMOVE_RECURSE ${WORK_DIR})
set(args -S ${SOURCE_DIR}/tests/consumer/project -B ${WORK_DIR} -DMODE=${MODE} -DRSCOVLM_SOURCE_DIR=${SOURCE_DIR}
    -DCMAKE_BUILD_TYPE=Debug) # unoptimised: the test checks the integration, and -O0 halves its compile time
if(MODE STREQUAL "find_package")
  list(APPEND args -Drscovlm_DIR=${RSCOVLM_BUILD_DIR} -DEXPECT_TORCH=${EXPECT_TORCH})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} ${args} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer (${MODE}): configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer (${MODE}): build failed")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer (${MODE}): program failed")
endif()
