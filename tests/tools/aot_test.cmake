# kiln compile MODEL --aot, then builds examples/aot against the library (a C
# program; no LLVM, no Kiln library), runs it, and checks that
# - its predictions equal `kiln predict` (the JIT) on the same inputs, float for float;
# - STEPS train steps through the library's model_train_step give the logs,
#   weights, optimizer slots and trained predictions that train_on_batch on the
#   JIT gives (aot_train_check), float for float;
# - the program neither loads (ldd) nor contains (nm) LLVM or Kiln's library.
#   cmake -DKILN=... -DCHECK=aot_train_check -DNAME=mlp -DKILN_SOURCE_DIR=... -DWORKDIR=... -DGENERATOR=...
#         [-DBATCH=5] [-DSTEPS=3] [-DLAUNCHER=ccache] -P aot_test.cmake
if(NOT BATCH)
  set(BATCH 5)
endif()
if(NOT STEPS)
  set(STEPS 3)
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

execute_process(COMMAND ldd "${build}/aot_model" OUTPUT_VARIABLE deps RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR deps MATCHES "LLVM|kiln")
  message(FATAL_ERROR "aot_model must not load LLVM or Kiln (rc ${rc}):\n${deps}")
endif()
# Nor link it in statically: no LLVM symbol, nothing of kiln_frontend/codegen's JIT.
execute_process(COMMAND nm -C "${build}/aot_model" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT syms MATCHES "model_train_step" OR syms MATCHES "llvm::|kiln::Model|kiln::codegen::Jit")
  message(FATAL_ERROR "aot_model must hold model_train_step and no LLVM or Kiln library code (nm rc ${rc})")
endif()

step("run aot_model" "${build}/aot_model" "${out}" ${BATCH})
file(GLOB xs RELATIVE "${out}" "${out}/x*.npy")
file(GLOB ys RELATIVE "${out}" "${out}/y*.npy")
list(SORT xs)
list(SORT ys)
if(NOT xs OR NOT ys)
  message(FATAL_ERROR "aot_model wrote no inputs or outputs in ${out}")
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
  step("compare ${y}" "${build}/aot_model" --compare "${out}/${y}" "${out}/jit_${y}")
endforeach()
message("${NAME}: the AOT library's predictions equal the JIT's")

set(train "${WORKDIR}/train")
file(MAKE_DIRECTORY "${train}")
step("run aot_model --train" "${build}/aot_model" --train "${train}" ${BATCH} ${STEPS})
step("aot_train_check (JIT)" "${CHECK}" "${MODEL}" "${train}" ${STEPS})
message("${NAME}: the AOT library's train steps equal the JIT's")
