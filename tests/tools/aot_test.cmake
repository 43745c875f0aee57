# kiln compile MODEL --aot, then builds examples/aot against the library (a C
# program; no LLVM, no Kiln library), runs it, and checks that its predictions
# equal `kiln predict` (the JIT) on the same inputs, float for float, and that
# the program does not load libLLVM.
#   cmake -DKILN=... -DNAME=mlp -DKILN_SOURCE_DIR=... -DWORKDIR=... -DGENERATOR=... [-DBATCH=5]
#         [-DLAUNCHER=ccache] -P aot_test.cmake
if(NOT BATCH)
  set(BATCH 5)
endif()
set(lib "${WORKDIR}/lib")
set(build "${WORKDIR}/build")
set(out "${WORKDIR}/out")
file(REMOVE_RECURSE "${WORKDIR}")
file(MAKE_DIRECTORY "${lib}" "${out}")

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n$ ${ARGN}\n${o}\n${e}")
  endif()
  message("${what}: ok\n${o}")
  set(out_text "${o}" PARENT_SCOPE)
endfunction()

# A saved file, so both commands see the same weights.
step("kiln save ${NAME}" "${KILN}" save "${NAME}" -o "${WORKDIR}/model.kiln")
set(MODEL "${WORKDIR}/model.kiln")
step("kiln compile --aot" "${KILN}" compile "${MODEL}" --aot -o "${lib}/libmodel.a" --header "${lib}/model.h"
  --name model)
set(launcher)
if(LAUNCHER)
  set(launcher "-DCMAKE_C_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
step("configure examples/aot" "${CMAKE_COMMAND}" -S "${KILN_SOURCE_DIR}/examples/aot" -B "${build}" -G "${GENERATOR}"
  -DCMAKE_BUILD_TYPE=Release "-DMODEL_DIR=${lib}" ${launcher})
step("build examples/aot" "${CMAKE_COMMAND}" --build "${build}")

execute_process(COMMAND ldd "${build}/aot_predict" OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR deps MATCHES "LLVM|kiln")
  message(FATAL_ERROR "aot_predict must not load LLVM or Kiln (rc ${rc}):\n${deps}")
endif()

step("run aot_predict" "${build}/aot_predict" "${out}" ${BATCH})
file(GLOB xs RELATIVE "${out}" "${out}/x*.npy")
file(GLOB ys RELATIVE "${out}" "${out}/y*.npy")
list(SORT xs)
list(SORT ys)
if(NOT xs OR NOT ys)
  message(FATAL_ERROR "aot_predict wrote no inputs or outputs in ${out}")
endif()
set(args)
foreach(x IN LISTS xs)
  list(APPEND args -i "${out}/${x}")
endforeach()
foreach(y IN LISTS ys)
  list(APPEND args -o "${out}/jit_${y}")
endforeach()
step("kiln predict (JIT)" "${KILN}" predict "${MODEL}" ${args})
foreach(y IN LISTS ys)
  step("compare ${y}" "${build}/aot_predict" --compare "${out}/${y}" "${out}/jit_${y}")
endforeach()
message("${NAME}: the AOT library's predictions equal the JIT's")
