# Installs the current build tree into a fresh prefix, then configures, builds
# and runs examples/embed against that prefix only: fails if the installed
# package (KilnConfig.cmake, exported targets, headers, libraries) is broken.
#   cmake -DKILN_BUILD_DIR=... -DKILN_SOURCE_DIR=... -DWORKDIR=... -DGENERATOR=...
#         [-DLAUNCHER=ccache] -P embed_test.cmake
set(prefix "${WORKDIR}/prefix")
set(build "${WORKDIR}/build")
file(REMOVE_RECURSE "${WORKDIR}")

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n$ ${ARGN}\n${out}\n${err}")
  endif()
  message("${what}: ok")
  set(out "${out}" PARENT_SCOPE)
endfunction()

step("install" "${CMAKE_COMMAND}" --install "${KILN_BUILD_DIR}" --prefix "${prefix}")

set(launcher)
if(LAUNCHER)
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
step("configure examples/embed" "${CMAKE_COMMAND}" -S "${KILN_SOURCE_DIR}/examples/embed" -B "${build}"
  -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${launcher})
# The package must come from the fresh prefix, not from a system-wide install.
file(REAL_PATH "${prefix}" real_prefix)
if(NOT out MATCHES "Kiln [0-9.]+ from ${real_prefix}/" AND NOT out MATCHES "Kiln [0-9.]+ from ${prefix}/")
  message(FATAL_ERROR "examples/embed did not find Kiln in ${prefix}:\n${out}")
endif()

step("build examples/embed" "${CMAKE_COMMAND}" --build "${build}")
step("run examples/embed" "${build}/mlp")

# The tutorial MLP's summary (the frontend's tests compare it with Keras byte for byte).
if(NOT out MATCHES "Model: \"model\".*input_1 \\(InputLayer\\).*dense_3 \\(Dense\\).*Total params: 551")
  message(FATAL_ERROR "examples/embed did not print the MLP's summary:\n${out}")
endif()
message("examples/embed: built against ${prefix} and printed the MLP summary")
